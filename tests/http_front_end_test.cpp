// The HTTP front end on a real cpp-httplib server on 127.0.0.1, driven by an
// httplib client, with a fake engine that records every call and answers
// from a script: what reaches the engine and in what shape, what a client
// gets back for each kind of answer, and that malformed input is refused
// with a one-line reason before the engine hears of it.
#include "appliance/http/http_front_end.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ocsp.h>
#include <openssl/pkcs7.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "appliance/http/engine_link.h"
#include "appliance/operations/status_epoch.h"
#include "common/encoding.h"
#include "common/error.h"
#include "common/files.h"
#include "common/openssl.h"
#include "modules/protocol/frame.h"
#include "tests/support/requests.h"
#include "tests/support/test_token.h"

namespace custos::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct Pkcs7Free {
  void operator()(PKCS7* pkcs7) const { PKCS7_free(pkcs7); }
};
struct OcspRequestFree {
  void operator()(OCSP_REQUEST* request) const { OCSP_REQUEST_free(request); }
};
struct CertIdFree {
  void operator()(OCSP_CERTID* id) const { OCSP_CERTID_free(id); }
};
struct OcspResponseFree {
  void operator()(OCSP_RESPONSE* response) const { OCSP_RESPONSE_free(response); }
};

std::vector<std::uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }
std::string text_of(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

// Output of an openssl command that writes DER to stdout.
std::vector<std::uint8_t> openssl_der(const std::string& arguments) {
  testing::CommandResult result = testing::run_command("openssl " + arguments);
  if (result.status != 0) throw Error("openssl " + arguments + ": " + result.err);
  return bytes_of(result.out);
}

// A P-256 request for CN=x, as a client would make it.
const std::vector<std::uint8_t>& csr_der() {
  static const std::vector<std::uint8_t> der = openssl_der(
      "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=x -outform DER");
  return der;
}

// A certificate for the engine to hand out; who signed it does not matter
// to the front end.
const std::vector<std::uint8_t>& certificate_der() {
  static const std::vector<std::uint8_t> der = openssl_der(
      "req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=x -days 1 "
      "-outform DER");
  return der;
}

// base64 in lines of 64 characters, as EST clients send it.
std::string wrapped_base64(const std::vector<std::uint8_t>& der) {
  std::string flat = to_base64(der);
  std::string text;
  for (std::size_t at = 0; at < flat.size(); at += 64) text += flat.substr(at, 64) + "\n";
  return text;
}

// A request about the test certificate, as if it had issued itself.
std::vector<std::uint8_t> ocsp_request_der() {
  const unsigned char* cursor = certificate_der().data();
  ossl::Ptr<X509> certificate(d2i_X509(nullptr, &cursor, static_cast<long>(certificate_der().size())));
  std::unique_ptr<OCSP_REQUEST, OcspRequestFree> request(OCSP_REQUEST_new());
  if (!certificate || !request) throw Error("building a test OCSP request: " + ossl::last_error());
  std::unique_ptr<OCSP_CERTID, CertIdFree> id(OCSP_cert_to_id(nullptr, certificate.get(), certificate.get()));
  if (!id || OCSP_request_add0_id(request.get(), id.get()) == nullptr) {
    throw Error("building a test OCSP request: " + ossl::last_error());
  }
  id.release();  // the request owns it now
  return ossl::to_der(request.get(), i2d_OCSP_REQUEST, "a test OCSP request");
}

// The status line the server answers `head` with, sent as is on a socket
// of its own: for what an httplib client does not send.
std::string status_line(int port, const std::string& head) {
  struct Socket {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ~Socket() {
      if (fd >= 0) ::close(fd);
    }
  } connection;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  if (connection.fd < 0 || ::setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
      ::connect(connection.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::send(connection.fd, head.data(), head.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(head.size())) {
    throw Error(std::string("talking to the test server: ") + std::strerror(errno));
  }
  std::string answer;
  char byte = 0;
  while (!answer.ends_with("\r\n") && ::recv(connection.fd, &byte, 1, 0) == 1) answer += byte;
  return answer.substr(0, answer.find("\r\n"));
}

json disposition(const std::string& status) {
  json answer = {{"request_id", 12}, {"status", status}, {"message", "the policy says " + status}};
  if (status == "issued") {
    answer["serial"] = "5A0F";
    answer["certificate"] = to_base64(certificate_der());
  }
  return answer;
}

// An engine that answers from a script and remembers every call.
class FakeEngine : public EngineLink {
 public:
  json call(const json& request) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(request);
    if (gone_) throw Error("the engine's channel is closed");
    auto answer = answers_.find(request.at("op").get<std::string>());
    if (answer == answers_.end()) return {{"ok", false}, {"error", "nothing scripted"}, {"kind", "failed"}};
    return answer->second;
  }

  void answer(const std::string& op, json result) { set(op, {{"ok", true}, {"result", std::move(result)}}); }
  void refuse(const std::string& op, const std::string& kind, const std::string& error, const std::string& role = "") {
    json answer = {{"ok", false}, {"error", error}, {"kind", kind}};
    if (!role.empty()) answer["role"] = role;
    set(op, std::move(answer));
  }
  void set(const std::string& op, json answer) {
    std::lock_guard lock(mutex_);
    answers_[op] = std::move(answer);
  }
  void go_away() {
    std::lock_guard lock(mutex_);
    gone_ = true;
  }
  std::vector<json> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, json> answers_;
  std::vector<json> calls_;
  bool gone_ = false;
};

class HttpFrontEndTest : public ::testing::Test {
 protected:
  ~HttpFrontEndTest() override {
    if (server_) server_->stop();
    if (listener_.joinable()) listener_.join();
  }

  void serve(bool tls, std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>(),
             KeptOcspAnswers* kept = nullptr) {
    server_ = std::move(server);
    HttpFrontEnd(engine_, kept).serve_on(*server_, tls, 4);
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    listener_ = std::thread([this] { server_->listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(server_->is_running());
  }

  httplib::Client client() const { return httplib::Client("127.0.0.1", port_); }

  // The one call the engine saw.
  json only_call() const {
    std::vector<json> calls = engine_.calls();
    if (calls.size() != 1) throw Error("the engine saw " + std::to_string(calls.size()) + " calls, not 1");
    return calls.front();
  }

  FakeEngine engine_;  // outlives the server, whose routes use it
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
};

TEST_F(HttpFrontEndTest, EstSimpleEnrollForwardsTheRequestAndAnswersWithCertsOnlyPkcs7) {
  serve(true);
  engine_.answer("enroll", disposition("issued"));
  httplib::Result result =
      client().Post("/.well-known/est/simpleenroll", wrapped_base64(csr_der()), "application/pkcs10");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/pkcs7-mime; smime-type=certs-only");
  EXPECT_EQ(result->get_header_value("Content-Transfer-Encoding"), "base64");

  std::vector<std::uint8_t> der = decode_base64_text(result->body);
  const unsigned char* cursor = der.data();
  std::unique_ptr<PKCS7, Pkcs7Free> pkcs7(d2i_PKCS7(nullptr, &cursor, static_cast<long>(der.size())));
  ASSERT_TRUE(pkcs7);
  ASSERT_TRUE(PKCS7_type_is_signed(pkcs7.get()));
  STACK_OF(X509)* certificates = pkcs7->d.sign->cert;
  ASSERT_EQ(sk_X509_num(certificates), 1);
  EXPECT_EQ(ossl::to_der(sk_X509_value(certificates, 0), i2d_X509, "the certificate"), certificate_der());

  json call = only_call();
  EXPECT_EQ(call["op"], "enroll");
  EXPECT_EQ(call["args"], json({{"csr", to_base64(csr_der())}, {"reenroll", false}}));
  EXPECT_EQ(call["caller"]["address"], "127.0.0.1");
  EXPECT_EQ(call["caller"]["request_id"], result->get_header_value("X-Request-Id"));
  EXPECT_FALSE(call["caller"].contains("user"));
}

TEST_F(HttpFrontEndTest, EstLabelIsTheProfileAndReenrollSaysSo) {
  serve(true);
  engine_.answer("enroll", disposition("issued"));
  httplib::Result result =
      client().Post("/.well-known/est/server/simplereenroll", to_base64(csr_der()), "application/pkcs10");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  json args = only_call()["args"];
  EXPECT_EQ(args["profile"], "server");
  EXPECT_EQ(args["reenroll"], true);
}

TEST_F(HttpFrontEndTest, EstPendingIsAcceptedWithRetryAfter) {
  serve(true);
  engine_.answer("enroll", disposition("pending"));
  httplib::Result result =
      client().Post("/.well-known/est/simpleenroll", to_base64(csr_der()), "application/pkcs10");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 202);
  EXPECT_EQ(result->get_header_value("Retry-After"), "60");
  EXPECT_EQ(result->body, "request 12 is pending: the policy says pending\n");
}

TEST_F(HttpFrontEndTest, EstDeniedIsForbiddenWithTheEnginesMessage) {
  serve(true);
  engine_.answer("enroll", disposition("denied"));
  httplib::Result result =
      client().Post("/.well-known/est/simpleenroll", to_base64(csr_der()), "application/pkcs10");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 403);
  EXPECT_EQ(result->body, "request 12 was not issued (denied): the policy says denied\n");
}

TEST_F(HttpFrontEndTest, MalformedEstBodiesAreRefusedBeforeTheEngine) {
  serve(true);
  for (const std::string& body : {std::string("not base64 at all!"), std::string("QUJD"), std::string(),
                                  to_base64(csr_der()) + "QUJD"}) {
    httplib::Result result = client().Post("/.well-known/est/simpleenroll", body, "application/pkcs10");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << body;
    EXPECT_EQ(std::count(result->body.begin(), result->body.end(), '\n'), 1) << result->body;
  }
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(HttpFrontEndTest, EstRefusesOtherContentTypes) {
  serve(true);
  httplib::Result result =
      client().Post("/.well-known/est/simpleenroll", to_base64(csr_der()), "application/octet-stream");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 415);
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(HttpFrontEndTest, EstCaCertsIsTheChainAsPkcs7AndCsrAttrsIsEmpty) {
  serve(true);
  engine_.answer("ca_certs", {{"certificates", {to_base64(certificate_der())}}});
  httplib::Result cacerts = client().Get("/.well-known/est/cacerts");
  ASSERT_TRUE(cacerts);
  EXPECT_EQ(cacerts->status, 200);
  EXPECT_EQ(cacerts->get_header_value("Content-Type"), "application/pkcs7-mime");
  EXPECT_EQ(decode_base64_text(cacerts->body), pkcs7_certs_only({certificate_der()}));

  httplib::Result csrattrs = client().Get("/.well-known/est/csrattrs");
  ASSERT_TRUE(csrattrs);
  EXPECT_EQ(csrattrs->status, 204);
  httplib::Result serverkeygen = client().Post("/.well-known/est/serverkeygen", "x", "application/pkcs10");
  ASSERT_TRUE(serverkeygen);
  EXPECT_EQ(serverkeygen->status, 404);
}

TEST_F(HttpFrontEndTest, RestSubmitSendsDerAndAnswersWithPem) {
  serve(true);
  engine_.answer("submit", disposition("issued"));
  json body = {{"csr", testing::pem("CERTIFICATE REQUEST", csr_der())}, {"profile", "client"},
               {"attributes", {{"site", "lab"}}}};
  httplib::Result result = client().Post("/api/v1/requests", body.dump(), "application/json");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  json answer = json::parse(result->body);
  EXPECT_EQ(answer["status"], "issued");
  EXPECT_EQ(answer["serial"], "5A0F");
  EXPECT_TRUE(answer["certificate"].get<std::string>().starts_with("-----BEGIN CERTIFICATE-----\n"));
  EXPECT_EQ(only_call()["args"],
            json({{"csr", to_base64(csr_der())}, {"attributes", {{"site", "lab"}, {"profile", "client"}}}}));
}

TEST_F(HttpFrontEndTest, RestSubmitTakesRawDerWithTheProfileInTheQuery) {
  serve(true);
  engine_.answer("submit", disposition("pending"));
  httplib::Result result = client().Post("/api/v1/requests?profile=subca", text_of(csr_der()), "application/pkcs10");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(only_call()["args"]["attributes"], json({{"profile", "subca"}}));
}

TEST_F(HttpFrontEndTest, JsonWithAnUnknownKeyOrWrongTypeIsRefusedBeforeTheEngine) {
  serve(true);
  std::string csr = testing::pem("CERTIFICATE REQUEST", csr_der());
  for (const json& body : {json({{"csr", csr}, {"profle", "server"}}), json({{"csr", csr}, {"profile", 7}}),
                           json({{"csr", csr}, {"attributes", {{"a", 1}}}}), json::array({csr}), json({{"csr", "x"}})}) {
    httplib::Result result = client().Post("/api/v1/requests", body.dump(), "application/json");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << body;
    EXPECT_TRUE(json::parse(result->body).contains("error")) << result->body;
  }
  httplib::Result broken = client().Post("/api/v1/requests", "{\"csr\": ", "application/json");
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 400);
  httplib::Result unknown = client().Post("/api/v1/requests/3/deny", json({{"why", "no"}}).dump(), "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(json::parse(unknown->body)["error"], "unknown key \"why\"; accepted: message");
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(HttpFrontEndTest, RestPathsAreChecked) {
  serve(true);
  for (const char* path : {"/api/v1/requests/0", "/api/v1/requests/-4", "/api/v1/requests/x1"}) {
    httplib::Result result = client().Get(path);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << path;
  }
  httplib::Result serial = client().Post("/api/v1/certificates/5Z/unrevoke", "", "application/json");
  ASSERT_TRUE(serial);
  EXPECT_EQ(serial->status, 400);
  httplib::Result reason =
      client().Post("/api/v1/certificates/5A/revoke", json({{"reason", "tired"}}).dump(), "application/json");
  ASSERT_TRUE(reason);
  EXPECT_EQ(reason->status, 400);
  httplib::Result state = client().Get("/api/v1/requests?state=lost");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, 400);
  for (const char* page : {"limit=0", "limit=ten", "after=-3"}) {
    httplib::Result bad_page = client().Get(std::string("/api/v1/requests?") + page);
    ASSERT_TRUE(bad_page);
    EXPECT_EQ(bad_page->status, 400) << page;
  }
  EXPECT_TRUE(engine_.calls().empty());

  engine_.answer("revoke", json::object());
  httplib::Result revoked = client().Post(
      "/api/v1/certificates/5a0f/revoke", json({{"reason", "keyCompromise"}, {"at", "2026-11-23T05:30:00Z"}}).dump(),
      "application/json");
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 200) << revoked->body;
  EXPECT_EQ(only_call()["args"], json({{"serial", "5a0f"}, {"reason", "keyCompromise"}, {"at", 1795411800}}));
}

TEST_F(HttpFrontEndTest, BasicCredentialsBecomeTheCaller) {
  serve(true);
  engine_.answer("retrieve", disposition("pending"));
  httplib::Client http = client();
  http.set_basic_auth("alice", "s3cret:with colon");
  httplib::Result result = http.Get("/api/v1/requests/12");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  json call = only_call();
  EXPECT_EQ(call["op"], "retrieve");
  EXPECT_EQ(call["args"], json({{"id", 12}}));
  EXPECT_EQ(call["caller"]["user"], "alice");
  EXPECT_EQ(call["caller"]["password"], "s3cret:with colon");
}

TEST_F(HttpFrontEndTest, AMalformedAuthorizationHeaderIs400) {
  serve(true);
  for (const char* header : {"Basic !!!", "Bearer abc", "Basic YWxpY2U="}) {
    httplib::Result result = client().Get("/api/v1/requests/12", {{"Authorization", header}});
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << header;
  }
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(HttpFrontEndTest, EngineRefusalsBecomeStatuses) {
  serve(true);
  engine_.refuse("list", "forbidden", "listing requests is for officers", "officer");
  httplib::Result forbidden = client().Get("/api/v1/requests?state=pending&limit=20&after=300");
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(forbidden->status, 403);
  EXPECT_NE(json::parse(forbidden->body)["error"].get<std::string>().find("officer role"), std::string::npos);
  EXPECT_EQ(only_call()["args"], json({{"state", "pending"}, {"limit", 20}, {"after", 300}}));

  engine_.refuse("retrieve", "unauthenticated", "who are you?");
  httplib::Result unauthenticated = client().Get("/api/v1/requests/3");
  ASSERT_TRUE(unauthenticated);
  EXPECT_EQ(unauthenticated->status, 401);
  EXPECT_EQ(unauthenticated->get_header_value("WWW-Authenticate"), "Basic realm=\"custos\"");

  engine_.refuse("resubmit", "not_found", "there is no request 4");
  httplib::Result missing = client().Post("/api/v1/requests/4/resubmit", "", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body), json({{"error", "there is no request 4"}}));

  engine_.go_away();
  httplib::Result gone = client().Get("/api/v1/requests/3");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 503);
}

TEST_F(HttpFrontEndTest, AnExceptionIsA500AndTheServerGoesOn) {
  serve(true);
  engine_.set("retrieve", {{"ok", true}});  // no "result"
  httplib::Result broken = client().Get("/api/v1/requests/3");
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 500);
  EXPECT_NE(json::parse(broken->body)["error"].get<std::string>().find(broken->get_header_value("X-Request-Id")),
            std::string::npos);
  engine_.answer("retrieve", disposition("pending"));
  httplib::Result next = client().Get("/api/v1/requests/3");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpFrontEndTest, PlainHttpServesOnlyCrlAndOcsp) {
  serve(false);
  for (const char* path : {"/api/v1/requests/1", "/.well-known/est/cacerts"}) {
    httplib::Result result = client().Get(path);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 403) << path;
    EXPECT_NE(result->body.find("use HTTPS"), std::string::npos) << result->body;
  }
  httplib::Result post = client().Post("/api/v1/requests", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 403);
  EXPECT_TRUE(engine_.calls().empty());

  engine_.answer("current_crl", {{"number", 1}, {"der", to_base64(bytes_of("crl"))}, {"offset", 0}, {"size", 3}, {"this_update", 0},
                                 {"next_update", 0}});
  httplib::Client http = client();
  http.set_basic_auth("alice", "sent in clear");
  httplib::Result crl = http.Get("/crl");
  ASSERT_TRUE(crl);
  EXPECT_EQ(crl->status, 200);
  EXPECT_FALSE(only_call()["caller"].contains("user"));
}

TEST_F(HttpFrontEndTest, CrlCarriesCachingHeadersAndAnswers304ToItsETag) {
  serve(true);
  std::time_t now = std::time(nullptr);
  engine_.answer("current_crl", {{"number", 7}, {"der", to_base64(bytes_of("the CRL"))}, {"offset", 0}, {"size", 7},
                                 {"this_update", 784111777},
                                 {"next_update", now + 600}});
  httplib::Result full = client().Get("/crl");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 200);
  EXPECT_EQ(full->body, "the CRL");
  EXPECT_EQ(full->get_header_value("Content-Type"), "application/pkix-crl");
  EXPECT_EQ(full->get_header_value("ETag"), "\"7\"");
  EXPECT_EQ(full->get_header_value("Last-Modified"), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(full->get_header_value("Expires"), http_date(now + 600));
  EXPECT_TRUE(full->get_header_value("Cache-Control").starts_with("public, max-age=")) << full->get_header_value("Cache-Control");

  httplib::Result same = client().Get("/crl", {{"If-None-Match", "\"6\", W/\"7\""}});
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 304);
  EXPECT_TRUE(same->body.empty());
  httplib::Result older = client().Get("/crl", {{"If-None-Match", "\"6\""}});
  ASSERT_TRUE(older);
  EXPECT_EQ(older->status, 200);

  // If-Modified-Since (RFC 9110 §13.1.3), when no If-None-Match is sent.
  httplib::Result unchanged = client().Get("/crl", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}});
  ASSERT_TRUE(unchanged);
  EXPECT_EQ(unchanged->status, 304);
  httplib::Result changed = client().Get("/crl", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT"}});
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->status, 200);
  httplib::Result unreadable = client().Get("/crl", {{"If-Modified-Since", "yesterday"}});
  ASSERT_TRUE(unreadable);
  EXPECT_EQ(unreadable->status, 200);
}

// RFC 9110 §6.6.1: every answer carries Date, an error's too.
TEST_F(HttpFrontEndTest, EveryAnswerCarriesADate) {
  serve(true);
  engine_.answer("current_crl", {{"number", 1}, {"der", to_base64(bytes_of("crl"))}, {"offset", 0}, {"size", 3}, {"this_update", 0},
                                 {"next_update", 0}});
  for (const char* path : {"/crl", "/nowhere"}) {
    httplib::Result result = client().Get(path);
    ASSERT_TRUE(result) << path;
    std::optional<std::time_t> date = parse_http_date(result->get_header_value("Date"));
    ASSERT_TRUE(date) << path << ": " << result->get_header_value("Date");
    EXPECT_LE(std::abs(*date - std::time(nullptr)), 5) << path;
  }
}

TEST_F(HttpFrontEndTest, OcspByPostAndByGet) {
  serve(false);
  std::vector<std::uint8_t> request = ocsp_request_der();
  engine_.answer("ocsp", {{"response", to_base64(bytes_of("signed answer"))},
                          {"this_update", 784111777},
                          {"next_update", std::time(nullptr) + 100}});
  httplib::Result post = client().Post("/ocsp", text_of(request), "application/ocsp-request");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 200);
  EXPECT_EQ(post->get_header_value("Content-Type"), "application/ocsp-response");
  EXPECT_EQ(post->body, "signed answer");
  EXPECT_EQ(only_call()["args"], json({{"request", to_base64(request)}}));

  httplib::Result get = client().Get("/ocsp/" + to_base64(request));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "signed answer");
  EXPECT_TRUE(get->get_header_value("Cache-Control").starts_with("max-age=")) << get->get_header_value("Cache-Control");
  // RFC 5019 §6.2: what a cache needs to keep and revalidate it.
  EXPECT_EQ(get->get_header_value("Last-Modified"), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_FALSE(get->get_header_value("Expires").empty());
  EXPECT_EQ(get->get_header_value("ETag"), "\"" + to_hex(ossl::sha_digest("SHA1", bytes_of("signed answer"))) + "\"");
  EXPECT_EQ(engine_.calls().back()["args"], json({{"request", to_base64(request)}}));
}

// What custosd says it keeps, the front end keeps: by POST and by GET the
// same request bytes are answered without a call, until the status epoch
// moves (a revocation) or the answer's reuse_until passes.
TEST_F(HttpFrontEndTest, KeptOcspAnswersAreGivenWithoutACallUntilTheEpochMoves) {
  operations::StatusEpochWriter epoch;
  operations::StatusEpochReader seen(FileDescriptor(::fcntl(epoch.descriptor(), F_DUPFD_CLOEXEC, 0)));
  KeptOcspAnswers kept(seen);
  serve(false, std::make_unique<httplib::Server>(), &kept);
  std::vector<std::uint8_t> request = ocsp_request_der();
  const std::time_t this_update = std::time(nullptr);
  auto script = [&](const std::string& body, std::optional<std::time_t> reuse_until) {
    json answer = {{"response", to_base64(bytes_of(body))},
                   {"this_update", this_update},
                   {"next_update", this_update + 100}};
    if (reuse_until) answer["reuse_until"] = *reuse_until;
    engine_.answer("ocsp", answer);
  };
  auto post = [&] {
    httplib::Result result = client().Post("/ocsp", text_of(request), "application/ocsp-request");
    return result && result->status == 200 ? result->body : std::string("no answer");
  };

  script("good", std::time(nullptr) + 50);
  EXPECT_EQ(post(), "good");
  script("signed again", std::time(nullptr) + 50);
  EXPECT_EQ(post(), "good");
  httplib::Result get = client().Get("/ocsp/" + to_base64(request));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "good");
  // A kept answer carries what custosd's did (RFC 5019 §6.2).
  EXPECT_EQ(get->get_header_value("ETag"), "\"" + to_hex(ossl::sha_digest("SHA1", bytes_of("good"))) + "\"");
  EXPECT_EQ(get->get_header_value("Last-Modified"), http_date(this_update));
  EXPECT_EQ(get->get_header_value("Expires"), http_date(this_update + 100));
  EXPECT_TRUE(get->get_header_value("Cache-Control").starts_with("max-age=")) << get->get_header_value("Cache-Control");
  EXPECT_EQ(engine_.calls().size(), 1u);

  script("revoked", std::time(nullptr) + 50);
  epoch.advance();
  EXPECT_EQ(post(), "revoked");
  EXPECT_EQ(post(), "revoked");
  EXPECT_EQ(engine_.calls().size(), 2u);

  // Past its reuse_until an answer is asked for again; without one
  // (custosd signed it for this request alone) it is never kept.
  epoch.advance();
  script("due", std::time(nullptr) - 1);
  EXPECT_EQ(post(), "due");
  script("for this request alone", std::nullopt);
  EXPECT_EQ(post(), "for this request alone");
  script("again", std::nullopt);
  EXPECT_EQ(post(), "again");
  EXPECT_EQ(engine_.calls().size(), 5u);
}

// An answer custosd gave before the epoch moved may be from the lane the
// move replaced: it is not kept. What is kept stays within its bound.
TEST(KeptOcspAnswersTest, AnAnswerAskedBeforeTheEpochMovedIsNotKeptAndTheBytesAreBounded) {
  operations::StatusEpochWriter epoch;
  operations::StatusEpochReader seen(FileDescriptor(::fcntl(epoch.descriptor(), F_DUPFD_CLOEXEC, 0)));
  KeptOcspAnswers kept(seen, 1000);
  auto answer = [](std::size_t bytes) {
    return std::make_shared<const KeptOcspAnswers::Answer>(KeptOcspAnswers::Answer{std::string(bytes, 'a'), 1, 2, "\"e\""});
  };
  std::time_t now = std::time(nullptr);

  std::uint64_t asked_in = kept.epoch();
  epoch.advance();  // a revocation while custosd answered
  kept.keep("request", answer(10), now + 60, asked_in);
  EXPECT_EQ(kept.find("request", now), nullptr);

  kept.keep("request", answer(10), now + 60, kept.epoch());
  ASSERT_NE(kept.find("request", now), nullptr);
  EXPECT_EQ(kept.find("request", now + 60), nullptr);

  // Too large alone: not kept. At the bound: everything before is dropped.
  kept.keep("huge", answer(2000), now + 60, kept.epoch());
  EXPECT_EQ(kept.find("huge", now), nullptr);
  kept.keep("first", answer(600), now + 60, kept.epoch());
  ASSERT_NE(kept.find("first", now), nullptr);
  kept.keep("second", answer(600), now + 60, kept.epoch());
  EXPECT_EQ(kept.find("first", now), nullptr);
  EXPECT_NE(kept.find("second", now), nullptr);
}

TEST_F(HttpFrontEndTest, MalformedOcspGetsAnOcspMalformedRequest) {
  serve(true);
  httplib::Result result = client().Post("/ocsp", "not DER", "application/ocsp-request");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/ocsp-response");
  const auto* cursor = reinterpret_cast<const unsigned char*>(result->body.data());
  std::unique_ptr<OCSP_RESPONSE, OcspResponseFree> response(
      d2i_OCSP_RESPONSE(nullptr, &cursor, static_cast<long>(result->body.size())));
  ASSERT_TRUE(response);
  EXPECT_EQ(OCSP_response_status(response.get()), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  httplib::Result get = client().Get("/ocsp/bm90IERFUg==");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 400);
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(HttpFrontEndTest, BodiesWithoutBoundsAreRefused) {
  serve(true);
  httplib::Result large = client().Post("/api/v1/requests", std::string(kMaxBodyBytes + 1, 'x'), "application/json");
  ASSERT_TRUE(large);
  EXPECT_EQ(large->status, 413);
  EXPECT_TRUE(json::parse(large->body).contains("error"));

  // Only the head of each: the server must answer before reading a body.
  EXPECT_EQ(status_line(port_, "POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"),
            "HTTP/1.1 411 Length Required");
  EXPECT_EQ(status_line(port_, "POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"),
            "HTTP/1.1 411 Length Required");

  httplib::Result compressed =
      client().Post("/api/v1/requests", {{"Content-Encoding", "gzip"}}, "{}", "application/json");
  ASSERT_TRUE(compressed);
  EXPECT_EQ(compressed->status, 415);
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(HttpFrontEndTest, LongPathsFindNoRoute) {
  serve(true);
  for (const std::string& path : {"/ocsp/" + std::string(8000, 'A'), "/api/v1/requests/" + std::string(8000, '1'),
                                  "/.well-known/est/" + std::string(8000, 'a') + "/cacerts"}) {
    httplib::Result result = client().Get(path);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 404);
  }
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(HttpFrontEndTest, TheTlsClientCertificateBecomesTheCaller) {
  std::filesystem::path dir = testing::TestToken::instance().make_directory("tls");
  std::string in = "cd '" + dir.string() + "' && openssl ";
  const char* key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
  for (const std::string& command :
       {in + "req -x509 " + key + " -keyout ca.key -out ca.pem -subj /CN=CA -days 1",
        in + "req -new " + key + " -keyout client.key -out client.csr -subj /CN=client",
        in + "x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1",
        in + "req -x509 " + key + " -keyout server.key -out server.pem -subj /CN=127.0.0.1 -days 1"}) {
    ASSERT_EQ(testing::run_command(command).status, 0) << command;
  }
  // As custos-http sets it up: a client certificate is asked for, and
  // verified against the CA when one is sent.
  serve(true, std::make_unique<httplib::SSLServer>([&](SSL_CTX& context) {
          SSL_CTX_set_verify(&context, SSL_VERIFY_PEER, nullptr);
          return SSL_CTX_use_certificate_chain_file(&context, (dir / "server.pem").c_str()) == 1 &&
                 SSL_CTX_use_PrivateKey_file(&context, (dir / "server.key").c_str(), SSL_FILETYPE_PEM) == 1 &&
                 SSL_CTX_load_verify_locations(&context, (dir / "ca.pem").c_str(), nullptr) == 1;
        }));
  engine_.answer("retrieve", disposition("pending"));
  httplib::Client https("https://127.0.0.1:" + std::to_string(port_), (dir / "client.pem").string(),
                        (dir / "client.key").string());
  https.enable_server_certificate_verification(false);
  https.set_basic_auth("alice", "ignored beside a certificate");
  httplib::Result result = https.Get("/api/v1/requests/12");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200) << result->body;
  json caller = only_call()["caller"];
  EXPECT_EQ(caller["certificate"], to_base64(openssl_der("x509 -in '" + (dir / "client.pem").string() + "' -outform DER")));
  EXPECT_FALSE(caller.contains("user"));
}

TEST(HttpHelpersTest, ParseBasicAuthorization) {
  BasicCredentials credentials = parse_basic_authorization("basic  " + to_base64(bytes_of("bob:pa:ss")) + " ");
  EXPECT_EQ(credentials.user, "bob");
  EXPECT_EQ(credentials.password, "pa:ss");
  EXPECT_EQ(parse_basic_authorization("Basic " + to_base64(bytes_of("bob:"))).password, "");
  for (const std::string& header :
       {std::string("Digest abc"), std::string("Basic"), std::string("Basic ***"), "Basic " + to_base64(bytes_of("bob")),
        "Basic " + to_base64(bytes_of(":pw")), "Basic " + to_base64(bytes_of("bob:a\nb")),
        "Basic " + to_base64(bytes_of("b\xC3:pw"))}) {
    EXPECT_THROW(parse_basic_authorization(header), Error) << header;
  }
}

TEST(HttpHelpersTest, HttpDate) {
  EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(HttpHelpersTest, DecodeBase64TextAllowsLineBreaksOnly) {
  EXPECT_EQ(decode_base64_text(" QUJD\r\nREVG\tR0g=\n"), bytes_of("ABCDEFGH"));
  for (const char* text : {"", " \n", "QUJD*", "QUJ", "QUJDRA", "QUJDRA==QUJD"}) {
    EXPECT_THROW(decode_base64_text(text), Error) << text;
  }
}

TEST(HttpHelpersTest, CertsOnlyPkcs7IsWhatOpensslCrl2Pkcs7Makes) {
  std::filesystem::path dir = testing::TestToken::instance().make_directory("pkcs7");
  testing::write_file(dir / "certificate.pem", testing::pem("CERTIFICATE", certificate_der()));
  std::vector<std::uint8_t> expected =
      openssl_der("crl2pkcs7 -nocrl -certfile '" + (dir / "certificate.pem").string() + "' -outform DER");
  EXPECT_EQ(pkcs7_certs_only({certificate_der()}), expected);
  // A chain keeps its order, as OpenSSL writes it.
  std::vector<std::uint8_t> second = openssl_der(
      "req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout /dev/null -subj /CN=y -days 1 "
      "-outform DER");
  testing::write_file(dir / "chain.pem",
                      testing::pem("CERTIFICATE", second) + testing::pem("CERTIFICATE", certificate_der()));
  EXPECT_EQ(pkcs7_certs_only({second, certificate_der()}),
            openssl_der("crl2pkcs7 -nocrl -certfile '" + (dir / "chain.pem").string() + "' -outform DER"));
  EXPECT_THROW(pkcs7_certs_only({}), Error);
  EXPECT_THROW(pkcs7_certs_only({bytes_of("not a certificate")}), Error);
  std::vector<std::uint8_t> trailing = certificate_der();
  trailing.push_back(0x00);
  EXPECT_THROW(pkcs7_certs_only({trailing}), Error);
}

// A job that holds the worker running it until release(); every job of a
// test counts itself in `ran`.
class HeldWorker {
 public:
  // Enqueues the holding job and returns once a worker runs it.
  HeldWorker(BoundedTaskQueue& queue, std::atomic<int>& ran) {
    queue.enqueue([this, &ran] {
      started_.set_value();
      released_.wait();
      ++ran;
    });
    started_.get_future().wait();
  }
  void release() { release_.set_value(); }

 private:
  std::promise<void> started_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
};

TEST(BoundedTaskQueueTest, EnqueueBlocksWhileAsManyJobsWait) {
  BoundedTaskQueue queue(1);
  std::atomic<int> ran{0};
  HeldWorker held(queue, ran);
  queue.enqueue([&] { ++ran; });  // waits: the one worker is busy

  std::atomic<bool> third_queued{false};
  std::thread third([&] {
    queue.enqueue([&] { ++ran; });
    third_queued = true;
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(third_queued);  // a job already waits, as many as there are workers
  held.release();
  third.join();
  EXPECT_TRUE(third_queued);
  queue.shutdown();
  EXPECT_EQ(ran, 3);
}

// Several callers wait for room at once: each gets its job in, also when a
// worker becomes idle instead of taking a queued job (before, only taking a
// job woke a waiting caller, so a worker going idle left the others asleep).
TEST(BoundedTaskQueueTest, EveryCallerWaitingForRoomGetsItsJobIn) {
  for (int round = 0; round < 20; ++round) {
    BoundedTaskQueue queue(1);
    std::atomic<int> ran{0};
    HeldWorker held(queue, ran);
    queue.enqueue([&] { ++ran; });  // waits in the queue
    std::vector<std::future<void>> callers;
    for (int caller = 0; caller < 3; ++caller) {
      callers.push_back(std::async(std::launch::async, [&] { queue.enqueue([&] { ++ran; }); }));
    }
    std::this_thread::sleep_for(50ms);  // all three wait for room
    held.release();
    for (std::future<void>& caller : callers) {
      ASSERT_EQ(caller.wait_for(10s), std::future_status::ready) << "round " << round << ": a caller was never woken";
    }
    queue.shutdown();
    EXPECT_EQ(ran, 5);
  }
}

// Jobs one after another go to the same thread, the one idle last: the
// other workers stay untouched (before, each job woke the worker that had
// waited longest, so every thread came to serve).
TEST(BoundedTaskQueueTest, AJobGoesToTheWorkerThatBecameIdleLast) {
  BoundedTaskQueue queue(8);
  std::this_thread::sleep_for(200ms);  // every worker has started and is idle
  std::set<std::thread::id> threads;
  for (int job = 0; job < 24; ++job) {
    std::promise<std::thread::id> ran;
    queue.enqueue([&] { ran.set_value(std::this_thread::get_id()); });
    threads.insert(ran.get_future().get());
    std::this_thread::sleep_for(20ms);  // the worker is idle again
  }
  queue.shutdown();
  // One, or two if a worker was slow to become idle on a busy machine.
  EXPECT_LE(threads.size(), 2u);
}

// Waits (for at most ten seconds) until `done` holds.
template <typename Condition>
bool eventually(Condition done) {
  for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

// A channel given back goes to the caller that has waited longest, also
// when the caller that gave it back calls again at once (before, that
// caller took it again ahead of those woken for it: under 16 HTTP
// connections on 4 channels, their waits made the slowest answers).
TEST(ChannelPoolTest, CallersGetTheChannelInTheOrderTheyAsked) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  std::vector<FileDescriptor> ours;
  ours.emplace_back(pair[0]);
  FileDescriptor engine_end(pair[1]);
  ChannelPool pool(std::move(ours));

  // The engine: records each call's op and answers once `answer` is set.
  std::mutex mutex;
  std::vector<std::string> heard;
  std::promise<void> answer;
  std::shared_future<void> answering = answer.get_future().share();
  std::thread engine([&] {
    for (int call = 0; call < 4; ++call) {
      json request = protocol::read_frame(engine_end.get(), std::nullopt);
      {
        std::lock_guard lock(mutex);
        heard.push_back(request.at("op").get<std::string>());
      }
      answering.wait();
      protocol::write_frame(engine_end.get(), {{"ok", true}}, std::nullopt);
    }
  });
  auto heard_count = [&] {
    std::lock_guard lock(mutex);
    return heard.size();
  };

  std::thread first([&] {
    pool.call({{"op", "first"}});
    pool.call({{"op", "first-again"}});
  });
  ASSERT_TRUE(eventually([&] { return heard_count() == 1; }));
  std::thread second([&] { pool.call({{"op", "second"}}); });
  ASSERT_TRUE(eventually([&] { return pool.callers_waiting() == 1; }));
  std::thread third([&] { pool.call({{"op", "third"}}); });
  ASSERT_TRUE(eventually([&] { return pool.callers_waiting() == 2; }));
  answer.set_value();
  for (std::thread* thread : {&first, &second, &third, &engine}) thread->join();
  EXPECT_EQ(heard, (std::vector<std::string>{"first", "second", "third", "first-again"}));
}

}  // namespace
}  // namespace custos::server
