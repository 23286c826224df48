#include "appliance/http/routes.h"

namespace custos::server::routes {

// What relying parties fetch: OCSP (RFC 6960, RFC 5019) and the CRL.

void Routes::ocsp_post(const Request& request, Response& response) const {
  if (media_type(request) != "application/ocsp-request") {
    throw HttpError(415, "send the OCSP request as application/ocsp-request");
  }
  answer_ocsp(request, response, std::vector<std::uint8_t>(request.body.begin(), request.body.end()), false);
}

void Routes::ocsp_get(const Request& request, Response& response) const {
  std::vector<std::uint8_t> der;
  try {
    der = from_base64(request.matches[1].str());
  } catch (const Error&) {
    throw HttpError(400, "the OCSP request in the URL is not base64");
  }
  answer_ocsp(request, response, der, true);
}

void Routes::crl(const Request& request, Response& response) const {
  nlohmann::json crl = ask(request, response, Op::kCurrentCrl);
  std::string etag = "\"" + std::to_string(crl.at("number").get<std::int64_t>()) + "\"";
  auto next_update = crl.at("next_update").get<std::time_t>();
  response.set_header("ETag", etag);
  response.set_header("Last-Modified", http_date(crl.at("this_update").get<std::time_t>()));
  response.set_header("Expires", http_date(next_update));
  response.set_header("Cache-Control",
                      "public, max-age=" + std::to_string(cache_seconds(next_update)) + ", no-transform");
  // RFC 9110 §13.1.3: If-Modified-Since counts only without If-None-Match.
  std::optional<std::time_t> since = request.has_header("If-None-Match")
                                         ? std::nullopt
                                         : parse_http_date(request.get_header_value("If-Modified-Since"));
  if (etag_listed(request.get_header_value("If-None-Match"), etag) ||
      (since && crl.at("this_update").get<std::time_t>() <= *since)) {
    response.status = 304;
    return;
  }
  std::vector<std::uint8_t> der = operations::join_crl_parts(
      crl, [&](const nlohmann::json& args) { return ask(request, response, Op::kCurrentCrl, args); });
  response.status = 200;
  response.set_content(as_text(der), "application/pkix-crl");
}

void Routes::answer_ocsp(const Request& request, Response& response, const std::vector<std::uint8_t>& der,
                         bool cacheable) const {
  std::string key(der.begin(), der.end());
  // Bytes kept are bytes that were checked below when first asked.
  std::shared_ptr<const KeptOcspAnswers::Answer> answer = kept_ ? kept_->find(key, std::time(nullptr)) : nullptr;
  if (!answer) answer = ask_ocsp(request, response, der, key);
  if (cacheable) {
    // RFC 5019 §6.2: a GET answer may be cached until its nextUpdate.
    response.set_header("Cache-Control",
                        "max-age=" + std::to_string(cache_seconds(answer->next_update)) + ", public, no-transform");
    response.set_header("Last-Modified", http_date(answer->this_update));
    response.set_header("Expires", http_date(answer->next_update));
    response.set_header("ETag", answer->etag);
  }
  response.status = 200;
  response.set_content(answer->body, "application/ocsp-response");
}

std::shared_ptr<const KeptOcspAnswers::Answer> Routes::ask_ocsp(const Request& request, const Response& response,
                                                                const std::vector<std::uint8_t>& der,
                                                                const std::string& key) const {
  const unsigned char* cursor = der.data();
  std::unique_ptr<OCSP_REQUEST, OcspRequestDeleter> parsed(
      d2i_OCSP_REQUEST(nullptr, &cursor, static_cast<long>(der.size())));
  if (!parsed) throw HttpError(400, "not a DER OCSP request: " + ossl::last_error());
  if (cursor != der.data() + der.size()) throw HttpError(400, "bytes follow the DER OCSP request");

  // Read before asking: an answer given under an older epoch is not kept.
  std::uint64_t asked_in = kept_ ? kept_->epoch() : 0;
  nlohmann::json wire = ask(request, response, Op::kOcsp, {{"request", to_base64(der)}});
  auto answer = std::make_shared<KeptOcspAnswers::Answer>();
  std::vector<std::uint8_t> body = from_base64(wire.at("response").get<std::string>());
  answer->body = as_text(body);
  answer->this_update = wire.value("this_update", std::time_t{0});
  answer->next_update = wire.at("next_update").get<std::time_t>();
  answer->etag = "\"" + to_hex(ossl::sha_digest("SHA1", body)) + "\"";
  if (kept_ && wire.contains("reuse_until")) kept_->keep(key, answer, wire.at("reuse_until").get<std::time_t>(), asked_in);
  return answer;
}

bool Routes::etag_listed(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
  }
  return false;
}

}  // namespace custos::server::routes
