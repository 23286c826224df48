#include "appliance/server/daemon.h"

#include <signal.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "appliance/operations/daemon_client.h"
#include "appliance/server/api.h"
#include "appliance/server/front_end_process.h"
#include "appliance/server/local_socket.h"
#include "appliance/server/tls_identity.h"

namespace custos::server {
namespace {

constexpr auto kDrainGrace = std::chrono::seconds(30);
constexpr auto kDeliveryRetry = std::chrono::seconds(5);
constexpr auto kGathering = std::chrono::milliseconds(200);
constexpr auto kCheckpointInterval = std::chrono::seconds(60);

// Off the request path: delivers the outbox to the exit modules, woken
// after each call and every few seconds for events a module failed to take;
// and once a minute, and at the end, has the token sign an audit checkpoint
// over what the calls logged.
class Courier {
 public:
  explicit Courier(Api& api) : api_(api), thread_([this] { run(); }) {}
  ~Courier() { stop(); }

  void wake() {
    std::lock_guard lock(mutex_);
    pending_ = true;
    wake_.notify_one();
  }
  // Delivers once more, then stops.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      wake_.notify_one();
    }
    thread_.join();
    deliver();
    checkpoint();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, kDeliveryRetry, [&] { return pending_ || stopping_; });
      if (stopping_) break;
      pending_ = false;
      lock.unlock();
      // Under load a call ends every few milliseconds; gathering their
      // events into one delivery keeps the engine for the callers.
      std::this_thread::sleep_for(kGathering);
      deliver();
      if (std::chrono::steady_clock::now() - last_checkpoint_ >= kCheckpointInterval) checkpoint();
      lock.lock();
    }
  }
  void deliver() {
    try {
      api_.with_delivery_engine([](engine::Engine& engine) {
        for (const std::string& failure : engine.deliver_events()) spdlog::warn("{}", failure);
      });
    } catch (const std::exception& error) {
      spdlog::warn("delivering events to the exit modules: {}", error.what());
    }
  }
  void checkpoint() {
    last_checkpoint_ = std::chrono::steady_clock::now();
    try {
      api_.with_engine([](engine::Engine& engine) { engine.checkpoint_audit(); });
    } catch (const std::exception& error) {
      spdlog::warn("signing an audit checkpoint: {}", error.what());
    }
  }

  Api& api_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = true;  // what an earlier run left is delivered at the start
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_checkpoint_ = std::chrono::steady_clock::now();
  std::thread thread_;
};

sigset_t daemon_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal);
  return signals;
}

}  // namespace

int run_daemon(const DaemonOptions& options) {
  // The log goes to stderr (the journal under systemd); stdout stays the
  // CLI's.
  spdlog::set_default_logger(spdlog::stderr_color_mt("custosd"));
  // Every thread started from here on leaves these signals to the sigwait
  // below.
  sigset_t signals = daemon_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<engine::CertificateAuthority> ca = engine::CertificateAuthority::open(options.directory, options.token);
  const engine::CaConfig& config = ca->config();
  // No request waits while the store's log is copied into its file.
  ca->store().upkeep_in_background([](const std::string& message) { spdlog::warn("{}", message); });
  // The engine rings when the outbox holds something new; the courier,
  // started once the engine is, answers (and delivers what an earlier run
  // left, at its start).
  std::atomic<Courier*> courier_bell{nullptr};
  Api api(*ca, [&courier_bell] {
    if (Courier* courier = courier_bell.load()) courier->wake();
  });
  api.with_engine([](engine::Engine& engine) {
    engine.current_crl("custosd");
    engine.checkpoint_audit();
  });

  Courier courier(api);
  courier_bell = &courier;
  LocalListener listener(options.directory, config.server.socket_group,
                         [&](const nlohmann::json& call, uid_t peer) { return api.handle(call, peer); });

  std::string listen = options.listen.value_or(config.http.listen);
  std::optional<FrontEndSpec> front_end_spec;
  if (listen != "off" && !listen.empty()) {
    TlsIdentity identity = ensure_tls_identity(*ca, api, listen);
    front_end_spec = FrontEndSpec{listen,
                                  options.plain_listen.value_or(config.http.plain_listen),
                                  identity.certificate,
                                  identity.key,
                                  ca->paths().certificate,
                                  config.http.max_connections,
                                  config.require_namespaces};
  }
  std::unique_ptr<FrontEndProcess> front_end;
  auto start_front_end = [&] {
    if (front_end_spec) front_end = std::make_unique<FrontEndProcess>(*front_end_spec, api);
  };
  start_front_end();

  spdlog::info("custosd serves {} on {}", options.directory.string(), operations::socket_path(options.directory).string());
  sd_notify(0, "READY=1\nSTATUS=serving");
  // Under a unit with WatchdogSec=, this loop (which wakes every second)
  // says it is alive; a custosd stuck in it is restarted by systemd.
  std::uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;

  for (;;) {
    if (watchdog) sd_notify(0, "WATCHDOG=1");
    timespec poll_interval{1, 0};
    int signal = sigtimedwait(&signals, nullptr, &poll_interval);
    if (signal == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      try {
        api.reload();
        spdlog::info("reloaded {}", ca->paths().config.string());
      } catch (const std::exception& error) {
        spdlog::error("reload refused, the configuration in force stays: {}", error.what());
      }
      sd_notify(0, "READY=1");
      continue;
    }
    if (signal == SIGTERM || signal == SIGINT) {
      spdlog::info("{}: draining", signal == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    std::string status;
    if (front_end && front_end->ended(status)) {
      spdlog::error("the HTTP front end {}; starting it again", status);
      front_end.reset();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      start_front_end();
    }
  }

  sd_notify(0, "STOPPING=1");
  listener.stop();
  if (front_end) front_end->stop(kDrainGrace);
  courier.stop();
  spdlog::info("custosd stopped");
  return 0;
}

}  // namespace custos::server
