// custos-http: the HTTP front end custosd starts (front_end_process.h). It
// holds no token and no database key: only its own TLS key, which it reads
// before it enters its sandbox (namespaces but the network, a read-only
// empty view of the filesystem, uid 65534 when started as root, no
// capabilities, no_new_privs, and the seccomp allow-list of
// seccomp_policy.h). Every request is parsed and checked here
// and reaches the engine as one call of api.h over the channels on fds 3….
// With custosd's status epoch page (status_epoch.h) it keeps the OCSP
// answers custosd keeps (kept_answers.h).
//
//   custos-http --listen HOST:PORT [--plain-listen HOST:PORT] --certificate PEM --key PEM
//               --client-ca PEM --max-connections N --channels K [--status-channels L]
//               [--status-epoch-fd FD] [--require-namespaces]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "appliance/http/engine_link.h"
#include "appliance/http/http_front_end.h"
#include "appliance/http/kept_answers.h"
#include "appliance/operations/status_epoch.h"
#include "common/address.h"
#include "common/error.h"
#include "common/files.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_policy.h"

namespace {

using custos::Error;
using custos::FileDescriptor;

struct Options {
  std::string listen;
  std::string plain_listen;
  std::string certificate;
  std::string key;
  std::string client_ca;
  std::size_t max_connections = 64;
  int channels = 1;
  int status_channels = 0;  // after the others; none: the lane shares them
  bool require_namespaces = false;
  pid_t engine_pid = 0;
  int status_epoch_fd = -1;  // none: no OCSP answer is kept here
};

constexpr long kSessionCacheEntries = 1024;

// TLS 1.2 and later; the front end's certificate chain and key; client
// certificates asked for but not required (a client may use basic auth
// instead), and when given verified against the CA.
bool configure_tls(SSL_CTX& context, const Options& options) {
  SSL_CTX_set_min_proto_version(&context, TLS1_2_VERSION);
  SSL_CTX_set_options(&context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(&context, options.certificate.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(&context, options.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&context) != 1 ||
      SSL_CTX_load_verify_locations(&context, options.client_ca.c_str(), nullptr) != 1) {
    return false;
  }
  SSL_CTX_set_verify(&context, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_client_CA_list(&context, SSL_load_client_CA_file(options.client_ca.c_str()));
  // Session resumption, so that a client's next connection skips the key
  // exchange and the certificate checks. With client certificates asked
  // for, OpenSSL resumes only a session made under the same context id,
  // and answers a TLS 1.2 resumption with an internal-error alert when
  // none is set. The session keeps the client's certificate, which the
  // engine checks again on every call, so a revocation still holds. The
  // server-side cache (TLS 1.2 session ids; tickets need none) is bounded.
  static constexpr unsigned char kSessionContext[] = "custos-http";
  SSL_CTX_set_session_id_context(&context, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_sess_set_cache_size(&context, kSessionCacheEntries);
  return true;
}

// Copies of the channels, made before the filter (which has no dup), that
// stay valid whatever the pool does with its own.
std::vector<FileDescriptor> channel_copies(const std::vector<FileDescriptor>& channels) {
  std::vector<FileDescriptor> copies;
  for (const FileDescriptor& channel : channels) {
    copies.emplace_back(::fcntl(channel.get(), F_DUPFD_CLOEXEC, 0));
    if (!copies.back()) throw Error("cannot watch the engine's channels: " + std::string(std::strerror(errno)));
  }
  return copies;
}

// Waits until custosd has closed every channel — it is gone, even if its
// death signal was missed — and then stops the front end, so the ports are
// free for the next custosd.
void stop_when_the_engine_is_gone(std::vector<FileDescriptor> channels) {
  std::thread([channels = std::move(channels)]() mutable {
    std::vector<pollfd> watched;
    for (const FileDescriptor& channel : channels) watched.push_back({channel.get(), 0, 0});
    // A channel that hung up is closed and left out of the poll (fd -1),
    // so the watcher sleeps until the next one does.
    std::size_t gone = 0;
    while (gone < watched.size()) {
      if (::poll(watched.data(), watched.size(), -1) < 0) continue;
      for (std::size_t index = 0; index < watched.size(); ++index) {
        pollfd& entry = watched[index];
        if (entry.fd >= 0 && (entry.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
          channels[index].reset();
          entry.fd = -1;
          ++gone;
        }
      }
    }
    spdlog::warn("custosd closed every channel: stopping");
    ::kill(::getpid(), SIGTERM);
  }).detach();
}

void bind_listener(httplib::Server& server, const std::string& address) {
  auto [host, port] = custos::split_host_port(address);
  if (!server.bind_to_port(host, port)) throw Error("cannot listen on " + address);
}

}  // namespace

int main(int argc, char** argv) {
  // It holds the TLS key: no core file. And it lives no longer than the
  // custosd that started it (its sandboxed child dies with it, sandbox.cpp),
  // so a restarted custosd finds its ports free.
  // No core file from here; it becomes non-dumpable in enter_sandbox, once
  // an unprivileged start has written its user-namespace maps (which a
  // non-dumpable process cannot).
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  CLI::App app{"custos-http: custosd's HTTP front end (started by custosd)"};
  Options options;
  app.add_option("--listen", options.listen)->required();
  app.add_option("--plain-listen", options.plain_listen);
  app.add_option("--certificate", options.certificate)->required();
  app.add_option("--key", options.key)->required();
  app.add_option("--client-ca", options.client_ca)->required();
  app.add_option("--max-connections", options.max_connections);
  app.add_option("--channels", options.channels);
  app.add_option("--status-channels", options.status_channels, "channels for OCSP and the CRL alone, after the others");
  app.add_flag("--require-namespaces", options.require_namespaces);
  app.add_option("--engine-pid", options.engine_pid, "custosd's pid: gone already, the front end does not start");
  app.add_option("--status-epoch-fd", options.status_epoch_fd,
                 "custosd's status epoch page (an inherited fd): keep the OCSP answers custosd keeps");
  CLI11_PARSE(app, argc, argv);
  // custosd died before the death signal was set: nothing to serve for.
  if (options.engine_pid != 0 && ::getppid() != options.engine_pid) return 1;
  // custosd gives it its own stderr (the journal); stdout is /dev/null.
  spdlog::set_default_logger(spdlog::stderr_color_mt("custos-http"));
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [custos-http] [%l] %v");

  try {
    // Before the servers, whose routes use them.
    std::optional<custos::operations::StatusEpochReader> status_epoch;
    std::optional<custos::server::KeptOcspAnswers> kept_answers;
    if (options.status_epoch_fd >= 0) {
      status_epoch.emplace(FileDescriptor(options.status_epoch_fd));
      kept_answers.emplace(*status_epoch);
    }
    httplib::SSLServer https([&](SSL_CTX& context) { return configure_tls(context, options); });
    if (!https.is_valid()) throw Error("the TLS certificate or key cannot be used: " + options.certificate);
    std::vector<FileDescriptor> channels;
    std::vector<FileDescriptor> status_channels;
    for (int index = 0; index < options.channels + options.status_channels; ++index) {
      (index < options.channels ? channels : status_channels).emplace_back(3 + index);
    }
    std::vector<FileDescriptor> watched_channels = channel_copies(channels);
    for (FileDescriptor& copy : channel_copies(status_channels)) watched_channels.push_back(std::move(copy));
    custos::server::ChannelPool engine(std::move(channels));
    std::unique_ptr<custos::server::ChannelPool> status;
    if (!status_channels.empty()) status = std::make_unique<custos::server::ChannelPool>(std::move(status_channels));
    custos::server::LaneSplit lanes(engine, status ? *status : static_cast<custos::server::EngineLink&>(engine));
    custos::server::HttpFrontEnd front_end(lanes, kept_answers ? &*kept_answers : nullptr);

    front_end.serve_on(https, true, options.max_connections);
    bind_listener(https, options.listen);
    std::unique_ptr<httplib::Server> plain;
    if (!options.plain_listen.empty()) {
      plain = std::make_unique<httplib::Server>();
      front_end.serve_on(*plain, false, options.max_connections);
      bind_listener(*plain, options.plain_listen);
    }

    // Everything from disk is read and every socket bound: the walls go up.
    custos::host::SandboxOptions sandbox;
    sandbox.require_namespaces = options.require_namespaces;
    sandbox.network = true;
    // A connection being served, one accepted and waiting for a worker
    // (BoundedTaskQueue), the listeners, the channels, stdio and what the
    // sanitizers and OpenSSL open for themselves.
    sandbox.max_open_files = 2 * options.max_connections + static_cast<unsigned long>(options.channels + options.status_channels) + 64;
    custos::host::SandboxReport report = custos::host::enter_sandbox(sandbox);
    // Its filter kills outright; it has nothing to report to a supervisor.
    FileDescriptor(report.supervisor).reset();
    // Before any worker thread starts: each inherits it.
    custos::host::install_front_end_filter();
    spdlog::info("sandbox: {}; seccomp on", report.describe());

    // SIGTERM stops both servers; they finish the requests they are in.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    // Started with the stop signals blocked, as every thread but the
    // stopper must be: a SIGTERM it took would never reach sigwait.
    stop_when_the_engine_is_gone(std::move(watched_channels));
    // As the first process of its pid namespace it would otherwise drop
    // signals it has no handler for.
    struct sigaction noted {};
    noted.sa_handler = [](int) {};
    ::sigaction(SIGTERM, &noted, nullptr);
    ::sigaction(SIGINT, &noted, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    std::thread stopper([&] {
      int signal = 0;
      sigwait(&stop_signals, &signal);
      https.stop();
      if (plain) plain->stop();
    });
    std::thread plain_thread;
    if (plain) plain_thread = std::thread([&] { plain->listen_after_bind(); });
    bool served = https.listen_after_bind();
    // Whatever ended the HTTPS server ends the plain one and the stopper.
    ::kill(::getpid(), SIGTERM);
    if (plain_thread.joinable()) plain_thread.join();
    stopper.join();
    spdlog::info("stopped");
    return served ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "custos-http: " << error.what() << "\n";
    return 1;
  }
}
