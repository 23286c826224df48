#include "appliance/http/routes.h"

namespace custos::server::routes {

// EST (RFC 7030) under /.well-known/est[/LABEL].

void Routes::est_cacerts(const Request& request, Response& response) const {
  est_label(request);  // every profile has the same CA, but an unusable label is still 404
  nlohmann::json result = ask(request, response, Op::kCaCerts);
  std::vector<std::vector<std::uint8_t>> certificates;
  for (const nlohmann::json& certificate : result.at("certificates")) {
    certificates.push_back(from_base64(certificate.get<std::string>()));
  }
  send_certs_only(response, certificates, "application/pkcs7-mime");
}

void Routes::est_csrattrs(const Request& request, Response& response) const {
  est_label(request);  // 404 for an unusable label
  response.status = 204;
}

void Routes::est_simpleenroll(const Request& request, Response& response) const { est_enroll(request, response, false); }

void Routes::est_simplereenroll(const Request& request, Response& response) const { est_enroll(request, response, true); }

void Routes::est_enroll(const Request& request, Response& response, bool reenroll) const {
  std::optional<std::string> label = est_label(request);
  if (media_type(request) != "application/pkcs10") {
    throw HttpError(415, "EST takes the request as application/pkcs10: the base64 of its DER");
  }
  std::vector<std::uint8_t> der;
  try {
    der = decode_base64_text(request.body);
  } catch (const Error& error) {
    throw HttpError(400, std::string("the body is not base64: ") + error.what());
  }
  check_request_der(der);
  nlohmann::json args = {{"csr", to_base64(der)}, {"reenroll", reenroll}};
  if (label) args["profile"] = *label;

  nlohmann::json disposition = ask(request, response, Op::kEnroll, std::move(args));
  std::string status = disposition.at("status").get<std::string>();
  std::string id = std::to_string(disposition.at("request_id").get<std::int64_t>());
  std::string message = disposition.value("message", "");
  if (status == "issued") {
    send_certs_only(response, {from_base64(disposition.at("certificate").get<std::string>())},
                    "application/pkcs7-mime; smime-type=certs-only");
  } else if (status == "pending" || status == "received") {
    // RFC 7030 §4.2.3: the client polls with the same request.
    response.status = 202;
    response.set_header("Retry-After", std::to_string(kEstRetryAfterSeconds));
    response.set_content(one_line("request " + id + " is pending" + (message.empty() ? "" : ": " + message)) + "\n",
                         kTextType);
  } else {
    throw HttpError(403, "request " + id + " was not issued (" + status + ")" + (message.empty() ? "" : ": " + message));
  }
}

}  // namespace custos::server::routes
