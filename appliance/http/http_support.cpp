#include "appliance/http/routes.h"

#include <openssl/asn1t.h>

namespace custos::server::routes {

std::string_view trim(std::string_view text) {
  constexpr std::string_view kBlank = " \t";
  std::size_t first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kBlank) - first + 1);
}

std::string lower(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lowered;
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex_digit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_utf8(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    auto lead = static_cast<unsigned char>(text[at]);
    if (lead < 0x80) {
      ++at;
      continue;
    }
    // The sequence's length, the payload bits of its lead byte, and the
    // smallest code point that needs that length.
    std::size_t length = 0;
    std::uint32_t code = 0;
    std::uint32_t smallest = 0;
    if (lead >= 0xF0 && lead <= 0xF7) {
      length = 4;
      code = lead & 0x07U;
      smallest = 0x10000;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      code = lead & 0x0FU;
      smallest = 0x800;
    } else if (lead >= 0xC0 && lead <= 0xDF) {
      length = 2;
      code = lead & 0x1FU;
      smallest = 0x80;
    } else {
      return false;
    }
    if (text.size() - at < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[at + k]);
      if ((next & 0xC0U) != 0x80U) return false;
      code = (code << 6) | (next & 0x3FU);
    }
    if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    at += length;
  }
  return true;
}

// At most kMaxMessageChars of `text`, on one line; a cut never splits a
// UTF-8 sequence.
std::string one_line(std::string_view text) {
  std::size_t cut = text.size();
  if (cut > kMaxMessageChars) {
    cut = kMaxMessageChars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  }
  std::string line(text.substr(0, cut));
  std::replace_if(line.begin(), line.end(), is_control, ' ');
  if (cut < text.size()) line += "...";
  return line;
}

// A path as the log shows it: a decoded path may hold any byte, and a
// newline in a log line would forge the next one.
std::string printable(std::string_view path) {
  std::string shown(path.substr(0, kMaxLoggedPathChars));
  std::replace_if(shown.begin(), shown.end(), [](char c) { return c <= ' ' || c >= 0x7F; }, '?');
  if (path.size() > kMaxLoggedPathChars) shown += "...";
  return shown;
}

std::string as_text(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string next_request_id() {
  static std::atomic<std::uint64_t> counter{0};
  // Appended, not "h" + …: GCC 12 at -O3 warns falsely (-Wrestrict) on
  // prepending to a temporary string.
  std::string id = "h";
  id += std::to_string(counter.fetch_add(1) + 1);
  return id;
}

std::string request_id(const Response& response) {
  return response.has_header(kRequestIdHeader) ? response.get_header_value(kRequestIdHeader) : "-";
}

// Seconds a cache may keep an answer that is good until `next_update`.
std::time_t cache_seconds(std::time_t next_update) {
  return std::clamp<std::time_t>(next_update - std::time(nullptr), 0, kMaxCacheSeconds);
}

std::string ocsp_error_response(int ocsp_status) {
  std::unique_ptr<OCSP_RESPONSE, OcspResponseDeleter> response(OCSP_response_create(ocsp_status, nullptr));
  if (!response) throw Error("building an OCSP error response: " + ossl::last_error());
  return as_text(ossl::to_der(response.get(), i2d_OCSP_RESPONSE, "an OCSP error response"));
}

// An OCSP client reads the OCSPResponseStatus in the body, not the HTTP
// status (RFC 6960 §4.2.1).
int ocsp_status_for(int http_status) {
  if (http_status == 503) return OCSP_RESPONSE_STATUS_TRYLATER;
  if (http_status == 401 || http_status == 403) return OCSP_RESPONSE_STATUS_UNAUTHORIZED;
  if (http_status >= 500) return OCSP_RESPONSE_STATUS_INTERNALERROR;
  return OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
}

// The error body in the language of the route the path names.
void send_error(const Request& request, Response& response, int status, std::string_view message) {
  std::string line = one_line(message);
  response.status = status;
  if (status == 401) response.set_header("WWW-Authenticate", kBasicChallenge);
  if (request.path.starts_with("/api/")) {
    response.set_content(dump({{"error", line}}), "application/json");
  } else if (request.path == "/ocsp" || request.path.starts_with("/ocsp/")) {
    // An OCSP error response has no room for a reason: the log keeps it.
    spdlog::info("http {} OCSP error {}: {}", request_id(response), status, line);
    response.set_content(ocsp_error_response(ocsp_status_for(status)), "application/ocsp-response");
  } else {
    response.set_content(line + "\n", kTextType);
  }
}

void send_json(Response& response, const nlohmann::json& value) {
  response.status = 200;
  response.set_content(dump(value), "application/json");
}

// The body's media type, lower-case and without parameters.
std::string media_type(const Request& request) {
  std::string value = request.get_header_value("Content-Type");
  return lower(trim(std::string_view(value).substr(0, value.find(';'))));
}

std::string joined(std::initializer_list<std::string_view> names) {
  std::string text;
  for (std::string_view name : names) text += (text.empty() ? "" : ", ") + std::string(name);
  return text.empty() ? "none" : text;
}

void allow_parameters(const Request& request, std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : request.params) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      throw HttpError(400, "unknown query parameter \"" + name + "\"; accepted: " + joined(allowed));
    }
    if (request.get_param_value_count(name) > 1) throw HttpError(400, "the query parameter \"" + name + "\" is repeated");
  }
}

// The body as a JSON object with no key but `allowed`; an empty body is {}.
nlohmann::json json_body(const Request& request, std::initializer_list<std::string_view> allowed) {
  if (request.body.empty()) return nlohmann::json::object();
  if (media_type(request) != "application/json") throw HttpError(415, "send the body as application/json");
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded()) throw HttpError(400, "the body is not valid JSON");
  if (!body.is_object()) throw HttpError(400, "the body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw HttpError(400, "unknown key \"" + key + "\"; accepted: " + joined(allowed));
    }
  }
  return body;
}

std::optional<std::string> optional_string(const nlohmann::json& body, const std::string& key) {
  auto field = body.find(key);
  if (field == body.end()) return std::nullopt;
  if (!field->is_string()) throw HttpError(400, "\"" + key + "\" must be a string");
  return field->get<std::string>();
}

std::string required_string(const nlohmann::json& body, const std::string& key) {
  std::optional<std::string> value = optional_string(body, key);
  if (!value) throw HttpError(400, "\"" + key + "\" is required");
  return *value;
}

// Profile names as EST labels (a path segment) and query parameters carry
// them; the engine decides whether the profile exists.
std::string checked_profile(std::string_view name) {
  if (name.empty() || name.size() > kMaxProfileChars ||
      !std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; })) {
    throw HttpError(400, "a profile name is 1 to 64 letters, digits, '.', '_' or '-'");
  }
  return std::string(name);
}

nlohmann::json checked_attributes(const nlohmann::json& body) {
  auto field = body.find("attributes");
  if (field == body.end()) return nlohmann::json::object();
  if (!field->is_object()) throw HttpError(400, "\"attributes\" must be an object of strings");
  for (const auto& [name, value] : field->items()) {
    if (name.empty() || !value.is_string()) throw HttpError(400, "\"attributes\" must map non-empty names to strings");
  }
  if (field->contains("profile")) checked_profile(field->at("profile").get<std::string>());
  return *field;
}

std::int64_t positive_integer(const std::string& text, const std::string& what) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!std::all_of(text.begin(), text.end(), is_digit) || error != std::errc() || end != text.data() + text.size() ||
      value <= 0) {
    throw HttpError(400, what + " is a positive integer");
  }
  return value;
}

std::int64_t id_in_path(const Request& request) { return positive_integer(request.matches[1].str(), "a request id"); }

std::string serial_in_path(const Request& request) {
  std::string serial = request.matches[1].str();
  if (serial.size() > kMaxSerialDigits || !std::all_of(serial.begin(), serial.end(), is_hex_digit)) {
    throw HttpError(400, "a serial is hex digits, as OpenSSL prints it");
  }
  return serial;
}

// The strict checks (signature, key, extensions) are the engine's; here
// the bytes must be one DER PKCS#10 request and nothing after it.
void check_request_der(std::span<const std::uint8_t> der) {
  try {
    x509::check_request_syntax(der);
  } catch (const x509::MalformedRequest& error) {
    throw HttpError(400, error.what());
  }
}

// A REST submission: PEM or DER, as x509::request_der reads them.
std::vector<std::uint8_t> submitted_request(std::string_view pem_or_der) {
  std::vector<std::uint8_t> der;
  try {
    der = x509::request_der(as_bytes(pem_or_der));
  } catch (const x509::MalformedRequest& error) {
    throw HttpError(400, error.what());
  }
  check_request_der(der);
  return der;
}

// The engine's certificate, checked and stored by it, armoured as it is:
// parsing it would decode its key through OpenSSL 3.0's decoder set-up,
// which was half of custos-http's CPU for a REST issuance.
std::string certificate_pem(const std::vector<std::uint8_t>& der) { return pem_armour("CERTIFICATE", der); }

// The disposition (README, --json), with the certificate as PEM for a REST client.
nlohmann::json rest_disposition(nlohmann::json disposition) {
  auto certificate = disposition.find("certificate");
  if (certificate != disposition.end()) *certificate = certificate_pem(from_base64(certificate->get<std::string>()));
  return disposition;
}

// RFC 2045 lines for a Content-Transfer-Encoding: base64 body.
std::string base64_lines(const std::vector<std::uint8_t>& der) {
  constexpr std::size_t kLine = 64;
  std::string flat = to_base64(der);
  std::string text;
  for (std::size_t at = 0; at < flat.size(); at += kLine) text += flat.substr(at, kLine) + "\r\n";
  return text;
}

// RFC 7030 §4.1.3 and §4.2.3: a certs-only PKCS#7, base64 in the body.
void send_certs_only(Response& response, const std::vector<std::vector<std::uint8_t>>& certificates,
                     const char* content_type) {
  response.status = 200;
  response.set_header("Content-Transfer-Encoding", "base64");
  response.set_content(base64_lines(pkcs7_certs_only(certificates)), content_type);
}

std::optional<std::string> est_label(const Request& request) {
  if (!request.matches[1].matched) return std::nullopt;
  std::string label = request.matches[1].str();
  try {
    return checked_profile(label);
  } catch (const HttpError&) {
    throw HttpError(404, "no EST label \"" + label + "\": labels are profile names");
  }
}

// The TLS client certificate, DER; empty when the client sent none. The
// handshake has verified it (custos-http asks for SSL_VERIFY_PEER); the
// check here keeps a looser TLS setup from passing an unverified one on.
std::vector<std::uint8_t> client_certificate(const Request& request) {
  if (request.ssl == nullptr) return {};
  ossl::Ptr<X509> certificate(SSL_get1_peer_certificate(request.ssl));
  if (!certificate) return {};
  long verified = SSL_get_verify_result(request.ssl);
  if (verified != X509_V_OK) {
    throw HttpError(401, std::string("the TLS client certificate does not verify: ") +
                             X509_verify_cert_error_string(verified));
  }
  return ossl::to_der(certificate.get(), i2d_X509, "the TLS client certificate");
}

// Who is asking, as the connection shows it. Basic credentials count only
// on the TLS server: on the plain one they crossed the network in clear.
nlohmann::json caller_of(const Request& request, const Response& response, bool tls) {
  nlohmann::json caller = nlohmann::json::object();
  std::vector<std::uint8_t> certificate = client_certificate(request);
  if (!certificate.empty()) {
    caller["certificate"] = to_base64(certificate);
  } else if (tls && request.has_header("Authorization")) {
    if (request.get_header_value_count("Authorization") > 1) throw HttpError(400, "more than one Authorization header");
    try {
      BasicCredentials credentials = parse_basic_authorization(request.get_header_value("Authorization"));
      caller["user"] = std::move(credentials.user);
      caller["password"] = std::move(credentials.password);
    } catch (const Error& error) {
      throw HttpError(400, error.what());
    }
  }
  caller["address"] = request.remote_addr;
  caller["request_id"] = request_id(response);
  return caller;
}

}  // namespace custos::server::routes

namespace custos::server {

using namespace routes;  // the helpers above

void apply_limits(httplib::Server& server, std::size_t max_connections) {
  if (max_connections == 0) throw Error("the HTTP front end needs max_connections of at least 1");
  server.set_payload_max_length(kMaxBodyBytes);
  server.set_read_timeout(kIoTimeout);
  server.set_write_timeout(kIoTimeout);
  server.set_keep_alive_max_count(kKeepAliveMaxRequests);
  server.set_keep_alive_timeout(kKeepAliveSeconds);
  // A response goes out as headers and body in two writes; with Nagle the
  // second waits for the client's delayed ACK (tens of milliseconds).
  server.set_tcp_nodelay(true);
  server.new_task_queue = [max_connections] { return new BoundedTaskQueue(max_connections); };
}

BoundedTaskQueue::BoundedTaskQueue(std::size_t workers) : capacity_(workers) {
  try {
    workers_state_.reserve(workers);
    idle_.reserve(workers);  // each worker is on it at most once: a worker's push never allocates
    workers_.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) {
      Worker& worker = *workers_state_.emplace_back(std::make_unique<Worker>());
      workers_.emplace_back([this, &worker] { work(worker); });
    }
  } catch (...) {
    shutdown();  // joins the workers that did start
    throw;
  }
}

BoundedTaskQueue::~BoundedTaskQueue() { shutdown(); }

void BoundedTaskQueue::enqueue(std::function<void()> job) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      Worker& worker = *idle_.back();
      idle_.pop_back();
      worker.job = std::move(job);
      worker.handed.notify_one();
      return;
    }
    // No worker is idle: the job waits for the next one to finish, which
    // looks here before it becomes idle.
    if (jobs_.size() < capacity_) {
      jobs_.push_back(std::move(job));
      return;
    }
    slot_free_.wait(lock);
  }
}

void BoundedTaskQueue::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (Worker* worker : idle_) worker->handed.notify_one();
    // They end without a job; one enqueued from now on waits in the queue
    // for the workers that are still running theirs.
    idle_.clear();
  }
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

void BoundedTaskQueue::work(Worker& self) {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      const bool queued = !jobs_.empty();
      if (queued) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      } else {
        if (stopping_) return;  // and nothing left to run
        idle_.push_back(&self);
      }
      // An enqueue() waiting for room can now queue its job, or hand it to
      // this worker; with several waiting, each must look again.
      slot_free_.notify_all();
      if (!queued) {
        self.handed.wait(lock, [&] { return self.job.has_value() || stopping_; });
        if (!self.job) return;  // stopping: shutdown() took it off the idle list
        job = std::move(*self.job);
        self.job.reset();
      }
    }
    try {
      job();
    } catch (const std::exception& error) {
      spdlog::error("http: a connection ended in an exception: {}", one_line(error.what()));
    } catch (...) {
      spdlog::error("http: a connection ended in an exception of unknown type");
    }
  }
}

BasicCredentials parse_basic_authorization(std::string_view header) {
  std::string_view value = trim(header);
  std::size_t blank = value.find_first_of(" \t");
  if (blank == std::string_view::npos || lower(value.substr(0, blank)) != "basic") {
    throw Error("only HTTP Basic authentication is accepted");
  }
  std::vector<std::uint8_t> decoded;
  try {
    decoded = from_base64(trim(value.substr(blank)));
  } catch (const Error&) {
    throw Error("the Basic credentials are not base64");
  }
  std::string text = as_text(decoded);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  std::size_t colon = text.find(':');
  std::optional<std::string> problem;
  if (colon == std::string::npos) {
    problem = "the Basic credentials have no ':' between user and password";
  } else if (colon == 0) {
    problem = "the Basic credentials name no user";
  } else if (!is_utf8(text) || std::any_of(text.begin(), text.end(), is_control)) {
    problem = "the Basic credentials are not UTF-8 text without control characters";
  }
  BasicCredentials credentials;
  if (!problem) credentials = {text.substr(0, colon), text.substr(colon + 1)};
  OPENSSL_cleanse(text.data(), text.size());
  if (problem) throw Error(*problem);
  return credentials;
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT": what clients send today
  // (RFC 9110 §5.6.7). The obsolete forms are treated as absent.
  std::string copy(text.substr(0, 64));
  char day[4] = {};
  char month[4] = {};
  std::tm parts{};
  int consumed = 0;
  if (std::sscanf(copy.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", day, &parts.tm_mday, month, &parts.tm_year,
                  &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed) != 7 ||
      static_cast<std::size_t>(consumed) != copy.size()) {
    return std::nullopt;
  }
  auto found = std::find_if(std::begin(kMonths), std::end(kMonths), [&](const char* name) { return std::strcmp(name, month) == 0; });
  if (found == std::end(kMonths)) return std::nullopt;
  parts.tm_mon = static_cast<int>(found - std::begin(kMonths));
  parts.tm_year -= 1900;
  return timegm(&parts);
}

std::string http_date(std::time_t when) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm parts{};
  if (gmtime_r(&when, &parts) == nullptr) throw Error("the time " + std::to_string(when) + " has no HTTP date");
  char text[64];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[parts.tm_wday], parts.tm_mday,
                kMonths[parts.tm_mon], parts.tm_year + 1900, parts.tm_hour, parts.tm_min, parts.tm_sec);
  return text;
}

std::vector<std::uint8_t> decode_base64_text(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') compact.push_back(c);
  }
  if (compact.empty()) throw Error("there is no base64 text");
  return from_base64(compact);
}

namespace {

// A certs-only SignedData (RFC 5652 §5.1; RFC 5272 §4.1: no eContent, no
// signers) as ASN.1 types of our own, whose certificates are the DER they
// are: OpenSSL's PKCS7 holds X509 objects, and parsing one decodes its key
// through OpenSSL 3.0's decoder set-up, about 100 µs of custos-http's CPU
// for each certificate an EST client is sent.
struct EncapsulatedContent {
  ASN1_OBJECT* type;
};
struct CertsOnlySignedData {
  ASN1_INTEGER* version;
  STACK_OF(X509_ALGOR) * digest_algorithms;
  EncapsulatedContent* content;
  STACK_OF(ASN1_TYPE) * certificates;
  STACK_OF(ASN1_TYPE) * signer_infos;
};
struct CertsOnlyContentInfo {
  ASN1_OBJECT* type;
  CertsOnlySignedData* signed_data;
};

ASN1_SEQUENCE(EncapsulatedContent) = {
    ASN1_SIMPLE(EncapsulatedContent, type, ASN1_OBJECT),
} static_ASN1_SEQUENCE_END(EncapsulatedContent)

// The certificates in the order given, as OpenSSL's PKCS7 writes them.
ASN1_SEQUENCE(CertsOnlySignedData) = {
    ASN1_SIMPLE(CertsOnlySignedData, version, ASN1_INTEGER),
    ASN1_SET_OF(CertsOnlySignedData, digest_algorithms, X509_ALGOR),
    ASN1_SIMPLE(CertsOnlySignedData, content, EncapsulatedContent),
    ASN1_IMP_SEQUENCE_OF(CertsOnlySignedData, certificates, ASN1_ANY, 0),
    ASN1_SET_OF(CertsOnlySignedData, signer_infos, ASN1_ANY),
} static_ASN1_SEQUENCE_END(CertsOnlySignedData)

ASN1_SEQUENCE(CertsOnlyContentInfo) = {
    ASN1_SIMPLE(CertsOnlyContentInfo, type, ASN1_OBJECT),
    ASN1_EXP(CertsOnlyContentInfo, signed_data, CertsOnlySignedData, 0),
} static_ASN1_SEQUENCE_END(CertsOnlyContentInfo)

using CertsOnlyType = ossl::Asn1Type<CertsOnlyContentInfo, CertsOnlyContentInfo_it>;

// `der` as an ANY that encodes as these very bytes, if they are one
// SEQUENCE and nothing after it.
ASN1_TYPE* certificate_as_any(const std::vector<std::uint8_t>& der) {
  const unsigned char* cursor = der.data();
  long length = 0;
  int tag = 0;
  int tag_class = 0;
  int flags = ASN1_get_object(&cursor, &length, &tag, &tag_class, static_cast<long>(der.size()));
  if ((flags & 0x80) != 0 || tag != V_ASN1_SEQUENCE || tag_class != V_ASN1_UNIVERSAL ||
      cursor + length != der.data() + der.size()) {
    throw Error("building a certs-only PKCS#7: a certificate is not one DER SEQUENCE");
  }
  ossl::Ptr<ASN1_STRING> sequence(ASN1_STRING_type_new(V_ASN1_SEQUENCE));
  ossl::Ptr<ASN1_TYPE> any(ASN1_TYPE_new());
  if (!sequence || !any || ASN1_STRING_set(sequence.get(), der.data(), static_cast<int>(der.size())) != 1) {
    throw Error("building a certs-only PKCS#7: " + ossl::last_error());
  }
  ASN1_TYPE_set(any.get(), V_ASN1_SEQUENCE, sequence.release());
  return any.release();
}

}  // namespace

std::vector<std::uint8_t> pkcs7_certs_only(const std::vector<std::vector<std::uint8_t>>& certificates) {
  if (certificates.empty()) throw Error("a certs-only PKCS#7 needs at least one certificate");
  // The two empty SETs (digest algorithms, signers) come made.
  CertsOnlyType::Owned info = CertsOnlyType::create();
  if (!info || ASN1_INTEGER_set(info->signed_data->version, 1) != 1) {
    throw Error("building a certs-only PKCS#7: " + ossl::last_error());
  }
  ASN1_OBJECT_free(info->type);
  info->type = OBJ_nid2obj(NID_pkcs7_signed);
  ASN1_OBJECT_free(info->signed_data->content->type);
  info->signed_data->content->type = OBJ_nid2obj(NID_pkcs7_data);
  for (const std::vector<std::uint8_t>& der : certificates) {
    ossl::Ptr<ASN1_TYPE> certificate(certificate_as_any(der));
    if (sk_ASN1_TYPE_push(info->signed_data->certificates, certificate.get()) <= 0) {
      throw Error("building a certs-only PKCS#7: " + ossl::last_error());
    }
    certificate.release();  // the stack owns it now
  }
  return ossl::to_der(info.get(), CertsOnlyType::encode, "a certs-only PKCS#7");
}

}  // namespace custos::server
