// The HTTP side of custosd (custos-http): the REST API, EST (RFC 7030),
// OCSP (RFC 6960) and the CRL, on cpp-httplib, in a process that holds no
// token and no database key. Every input is decoded and checked here (size,
// base64, PEM, DER, JSON shape) so that a malformed request gets a 400 with
// a one-line reason and never reaches the engine; a well-formed one becomes
// one EngineLink call that carries the caller as the connection showed it:
// its TLS client certificate, else HTTP Basic credentials (over TLS only),
// else nobody.
//
//   HttpFrontEnd front_end(engine_link);
//   front_end.serve_on(https, /*tls=*/true, 64);   // every route
//   front_end.serve_on(plain, /*tls=*/false, 64);  // /crl and /ocsp; anything else gets 403
//   https.listen_after_bind();
//
// The EngineLink (and the KeptOcspAnswers, if any) must outlive the
// servers. Routes run on the servers' worker threads, several at once;
// EngineLink::call and KeptOcspAnswers are thread-safe.
#pragma once

// Request carries the TLS session (Request::ssl) only in this configuration,
// which is the one Debian's compiled libcpp-httplib has: its layout must match.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "build with CPPHTTPLIB_OPENSSL_SUPPORT, as libcpp-httplib was: link PkgConfig::HTTPLIB"
#endif

#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "appliance/http/engine_link.h"
#include "appliance/http/kept_answers.h"

namespace custos::server {

// A request body above this size is refused (413) without being kept.
inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;
inline constexpr std::size_t kDefaultMaxConnections = 64;

class HttpFrontEnd {
 public:
  // With `kept`, OCSP answers custosd marks reusable are kept (kept_answers.h).
  explicit HttpFrontEnd(EngineLink& engine, KeptOcspAnswers* kept = nullptr) : engine_(engine), kept_(kept) {}

  // apply_limits, then the routes: all of them when `tls`, else /crl and
  // /ocsp only. Also gives every request an id (X-Request-Id, in the log and
  // in the engine call), every error a one-line body (JSON under /api, an
  // OCSP error response under /ocsp, text elsewhere), every exception a 500
  // instead of a crash, and every exchange one log line.
  void serve_on(httplib::Server& server, bool tls, std::size_t max_connections = kDefaultMaxConnections) const;

 private:
  EngineLink& engine_;
  KeptOcspAnswers* kept_;
};

// What every server gets: bodies of at most kMaxBodyBytes, 10 s for each
// read and write, short keep-alive, and `max_connections` connections
// served at once with as many more accepted and waiting (BoundedTaskQueue);
// beyond that the server stops accepting and the kernel's backlog holds the
// rest. Throws custos::Error when max_connections is 0.
void apply_limits(httplib::Server& server, std::size_t max_connections = kDefaultMaxConnections);

// httplib's worker pool with a bound: `workers` threads, and an enqueue()
// that blocks while `workers` jobs are already waiting. httplib calls
// enqueue() from its accept loop, so a full queue stops accepting instead
// of piling up connections in memory. An exception that escapes a job is
// logged; the worker goes on.
//
// A job goes to the worker that became idle last. With a few connections
// at a time, the same few threads serve them all; the others never touch
// their stacks or per-thread library state, and the front end's memory
// does not grow as connections come and go.
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  explicit BoundedTaskQueue(std::size_t workers);
  ~BoundedTaskQueue() override;  // shutdown()
  BoundedTaskQueue(const BoundedTaskQueue&) = delete;
  BoundedTaskQueue& operator=(const BoundedTaskQueue&) = delete;

  void enqueue(std::function<void()> job) override;
  // Runs the jobs already queued, then joins the workers. Idempotent.
  void shutdown() override;

 private:
  // A worker waits on its own condition for the job handed to it.
  struct Worker {
    std::condition_variable handed;
    std::optional<std::function<void()>> job;
  };
  void work(Worker& self);

  std::mutex mutex_;
  std::condition_variable slot_free_;
  // Jobs wait here only while no worker is idle.
  std::deque<std::function<void()>> jobs_;
  std::size_t capacity_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_state_;
  std::vector<Worker*> idle_;  // the last one became idle last; none once stopping
  std::vector<std::thread> workers_;
};

// The pure pieces, for tests.

struct BasicCredentials {
  std::string user;
  std::string password;
};

// An Authorization header's value, "Basic <base64 of user:password>"
// (RFC 7617); the user is non-empty, both are UTF-8 without control
// characters. Throws custos::Error with a one-line reason otherwise,
// including for any other scheme.
BasicCredentials parse_basic_authorization(std::string_view header);

// IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::time_t when);
// The time an IMF-fixdate names ("Sun, 06 Nov 1994 08:49:37 GMT"); none
// for any other text.
std::optional<std::time_t> parse_http_date(std::string_view text);

// Standard, padded base64 that may be broken by spaces, tabs and line
// breaks (an EST body); anything else, or nothing at all, throws
// custos::Error.
std::vector<std::uint8_t> decode_base64_text(std::string_view text);

// A degenerate PKCS#7 SignedData holding `certificates` (DER) and nothing
// else: no content, no signers (RFC 7030's certs-only, as `openssl
// crl2pkcs7 -nocrl` makes it). DER; throws custos::Error when a
// certificate does not parse or there is none.
std::vector<std::uint8_t> pkcs7_certs_only(const std::vector<std::vector<std::uint8_t>>& certificates);

}  // namespace custos::server
