// The front end's routes (REST, EST, OCSP and the CRL) and the HTTP
// helpers they share: internal to appliance/http. http_front_end.cpp puts
// the routes on a server; rest_routes.cpp, est_routes.cpp and
// status_routes.cpp answer them; http_support.cpp holds what they share.
#pragma once

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include <nlohmann/json.hpp>

#include "appliance/http/engine_link.h"
#include "appliance/http/http_front_end.h"
#include "appliance/operations/operations.h"
#include "appliance/x509/crl.h"
#include "appliance/x509/csr.h"
#include "appliance/x509/pem.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/error.h"
#include "common/openssl.h"

namespace custos::server::routes {

using operations::Op;

using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

// common/openssl.h has no deleters for these; local ones keep each object
// owned on every path.
struct OcspRequestDeleter {
  void operator()(OCSP_REQUEST* request) const { OCSP_REQUEST_free(request); }
};
struct OcspResponseDeleter {
  void operator()(OCSP_RESPONSE* response) const { OCSP_RESPONSE_free(response); }
};

inline constexpr std::chrono::seconds kIoTimeout{10};
// A kept-alive connection holds a worker while it lasts: an idle one
// gives it back after kKeepAliveSeconds, a busy one after this many
// requests, so that with every worker taken a waiting connection is served
// in turn; enough that a client's TLS handshakes cost next to nothing.
inline constexpr std::size_t kKeepAliveMaxRequests = 1000;
inline constexpr std::time_t kKeepAliveSeconds = 2;
inline constexpr std::time_t kMaxCacheSeconds = 3600;
inline constexpr int kEstRetryAfterSeconds = 60;
inline constexpr std::size_t kMaxMessageChars = 300;
inline constexpr std::size_t kMaxLoggedPathChars = 200;
inline constexpr std::size_t kMaxProfileChars = 64;
inline constexpr std::size_t kMaxSerialDigits = 64;
inline constexpr const char* kRequestIdHeader = "X-Request-Id";
inline constexpr const char* kBasicChallenge = "Basic realm=\"custos\"";
inline constexpr const char* kTextType = "text/plain; charset=utf-8";

// An answer other than success, thrown by a route and sent by the wrapper
// serve_on puts around each: the HTTP status and one line saying why.
class HttpError : public Error {
 public:
  CUSTOS_ERROR_TYPE(HttpError)
  HttpError(int status, const std::string& message) : Error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

std::string_view trim(std::string_view text);

std::string lower(std::string_view text);

bool is_control(char c);

bool is_digit(char c);

bool is_hex_digit(char c);

bool is_alnum(char c);

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_utf8(std::string_view text);

// At most kMaxMessageChars of `text`, on one line; a cut never splits a
// UTF-8 sequence.
std::string one_line(std::string_view text);

// A path as the log shows it: a decoded path may hold any byte, and a
// newline in a log line would forge the next one.
std::string printable(std::string_view path);

std::string as_text(const std::vector<std::uint8_t>& bytes);

std::span<const std::uint8_t> as_bytes(std::string_view text);

std::string dump(const nlohmann::json& value);

std::string next_request_id();

std::string request_id(const Response& response);

// Seconds a cache may keep an answer that is good until `next_update`.
std::time_t cache_seconds(std::time_t next_update);

std::string ocsp_error_response(int ocsp_status);

// An OCSP client reads the OCSPResponseStatus in the body, not the HTTP
// status (RFC 6960 §4.2.1).
int ocsp_status_for(int http_status);

// The error body in the language of the route the path names.
void send_error(const Request& request, Response& response, int status, std::string_view message);

void send_json(Response& response, const nlohmann::json& value);

// The body's media type, lower-case and without parameters.
std::string media_type(const Request& request);

std::string joined(std::initializer_list<std::string_view> names);

void allow_parameters(const Request& request, std::initializer_list<std::string_view> allowed);

// The body as a JSON object with no key but `allowed`; an empty body is {}.
nlohmann::json json_body(const Request& request, std::initializer_list<std::string_view> allowed);

std::optional<std::string> optional_string(const nlohmann::json& body, const std::string& key);

std::string required_string(const nlohmann::json& body, const std::string& key);

// Profile names as EST labels (a path segment) and query parameters carry
// them; the engine decides whether the profile exists.
std::string checked_profile(std::string_view name);

nlohmann::json checked_attributes(const nlohmann::json& body);

std::int64_t id_in_path(const Request& request);
// `text` as a positive integer, or HttpError 400 naming `what`.
std::int64_t positive_integer(const std::string& text, const std::string& what);

std::string serial_in_path(const Request& request);

// The strict checks (signature, key, extensions) are the engine's; here
// the bytes must be one DER PKCS#10 request and nothing after it.
void check_request_der(std::span<const std::uint8_t> der);

// A REST submission: PEM or DER, as x509::request_der reads them.
std::vector<std::uint8_t> submitted_request(std::string_view pem_or_der);

std::string certificate_pem(const std::vector<std::uint8_t>& der);

// The disposition (README, --json), with the certificate as PEM for a REST client.
nlohmann::json rest_disposition(nlohmann::json disposition);

// RFC 2045 lines for a Content-Transfer-Encoding: base64 body.
std::string base64_lines(const std::vector<std::uint8_t>& der);

// RFC 7030 §4.1.3 and §4.2.3: a certs-only PKCS#7, base64 in the body.
void send_certs_only(Response& response, const std::vector<std::vector<std::uint8_t>>& certificates,
                     const char* content_type);

std::optional<std::string> est_label(const Request& request);

// The TLS client certificate, DER; empty when the client sent none. The
// handshake has verified it (custos-http asks for SSL_VERIFY_PEER); the
// check here keeps a looser TLS setup from passing an unverified one on.
std::vector<std::uint8_t> client_certificate(const Request& request);

// Who is asking, as the connection shows it. Basic credentials count only
// on the TLS server: on the plain one they crossed the network in clear.
nlohmann::json caller_of(const Request& request, const Response& response, bool tls);

// The routes. Each throws HttpError for an answer other than success; any
// other exception is a fault of ours or of the engine's answer (500).
class Routes {
 public:
  Routes(EngineLink& engine, bool tls, KeptOcspAnswers* kept = nullptr) : engine_(&engine), tls_(tls), kept_(kept) {}

  void submit(const Request& request, Response& response) const;
  void retrieve(const Request& request, Response& response) const;
  void list(const Request& request, Response& response) const;
  void whoami(const Request& request, Response& response) const;
  void resubmit(const Request& request, Response& response) const;
  void deny(const Request& request, Response& response) const;
  void revoke(const Request& request, Response& response) const;
  void unrevoke(const Request& request, Response& response) const;
  void publish_crl(const Request& request, Response& response) const;
  void est_cacerts(const Request& request, Response& response) const;
  // RFC 7030 §4.5: no attributes are required of a request.
  void est_csrattrs(const Request& request, Response& response) const;
  void est_simpleenroll(const Request& request, Response& response) const;
  void est_simplereenroll(const Request& request, Response& response) const;
  void ocsp_post(const Request& request, Response& response) const;
  // RFC 6960 §A.1: GET {url}/{url-encoded base64 of the DER request};
  // httplib has already undone the URL encoding.
  void ocsp_get(const Request& request, Response& response) const;
  void crl(const Request& request, Response& response) const;

 private:
  // One engine call. The engine being gone is a 503; its refusals carry
  // their kind, which becomes the status.
  nlohmann::json ask(const Request& request, const Response& response, Op op,
                     nlohmann::json args = nlohmann::json::object()) const;
  void est_enroll(const Request& request, Response& response, bool reenroll) const;
  void answer_ocsp(const Request& request, Response& response, const std::vector<std::uint8_t>& der,
                   bool cacheable) const;
  // custosd's answer to a well-formed request, kept when custosd keeps it.
  std::shared_ptr<const KeptOcspAnswers::Answer> ask_ocsp(const Request& request, const Response& response,
                                                          const std::vector<std::uint8_t>& der,
                                                          const std::string& key) const;
  // If-None-Match (RFC 9110 §13.1.2) compares weakly: W/"7" matches "7".
  static bool etag_listed(std::string_view header, std::string_view etag);

  EngineLink* engine_;
  bool tls_;
  KeptOcspAnswers* kept_;  // none: every OCSP request goes to custosd
};

}  // namespace custos::server::routes
