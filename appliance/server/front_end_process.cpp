#include "appliance/server/front_end_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/process.h"
#include "common/programs.h"
#include "modules/protocol/frame.h"

namespace custos::server {
namespace {

// Channels for the engine's calls, and for the status lane's alone (OCSP and
// the CRL, answered beside the engine: api.h).
constexpr int kChannels = 4;
constexpr int kStatusChannels = 2;

// custos-http serves each connection on a thread of its own (a pool per
// listener, max_connections each). glibc gives every thread a cache of the
// blocks it freed (tcache) that only that thread reuses; as connections
// move between threads the caches fill one by one, and the front end's
// memory climbed through a whole 10-minute load (13 to 22 MB). Without
// them its heap is flat once the TLS session cache is full.
constexpr char kFrontEndMalloc[] = "GLIBC_TUNABLES=glibc.malloc.tcache_count=0";

}  // namespace

FrontEndProcess::FrontEndProcess(FrontEndSpec spec, Api& api) : api_(api) {
  std::vector<std::string> arguments = {program_path(Program::kHttpFrontEnd).string(),
                                        "--listen",                spec.listen,
                                        "--certificate",           spec.certificate.string(),
                                        "--key",                   spec.key.string(),
                                        "--client-ca",             spec.client_ca.string(),
                                        "--max-connections",       std::to_string(spec.max_connections),
                                        "--channels",              std::to_string(kChannels),
                                        "--status-channels",       std::to_string(kStatusChannels),
                                        "--engine-pid",            std::to_string(::getpid())};
  if (!spec.plain_listen.empty()) {
    arguments.emplace_back("--plain-listen");
    arguments.push_back(spec.plain_listen);
  }
  if (spec.require_namespaces) arguments.emplace_back("--require-namespaces");
  // Our ends stay here (close-on-exec); theirs land on fds 3… in the child.
  std::vector<FileDescriptor> ours;
  std::vector<FileDescriptor> theirs;
  std::vector<int> their_numbers;
  for (int index = 0; index < kChannels + kStatusChannels; ++index) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      throw Error(std::string("socketpair: ") + std::strerror(errno));
    }
    ours.emplace_back(pair[0]);
    theirs.emplace_back(pair[1]);
    their_numbers.push_back(pair[1]);
  }
  if (std::optional<int> epoch = api.status_epoch_descriptor()) {
    // After the channels: fds 3… in the child, in this order.
    arguments.emplace_back("--status-epoch-fd");
    arguments.push_back(std::to_string(3 + their_numbers.size()));
    their_numbers.push_back(*epoch);
  }
  try {
    pid_ = spawn_isolated({arguments, their_numbers, std::nullopt, std::nullopt, {kFrontEndMalloc}});
  } catch (const Error& error) {
    throw Error(std::string("the HTTP front end: ") + error.what());
  }
  theirs.clear();
  for (FileDescriptor& channel : ours) {
    channels_.emplace_back([this, channel = std::move(channel)]() mutable { serve(std::move(channel)); });
  }
  spdlog::info("HTTP front end started (pid {}), HTTPS on {}{}", pid_, spec.listen,
               spec.plain_listen.empty() ? "" : ", plain HTTP on " + spec.plain_listen);
}

FrontEndProcess::~FrontEndProcess() { stop(std::chrono::seconds(0)); }

void FrontEndProcess::serve(FileDescriptor channel) {
  for (;;) {
    nlohmann::json call;
    try {
      call = protocol::read_frame(channel.get(), std::nullopt);
    } catch (const protocol::FrameError& error) {
      if (error.kind() != protocol::FrameError::Kind::kClosed) spdlog::warn("front end channel: {}", error.what());
      break;
    }
    nlohmann::json answer = api_.handle(call, std::nullopt);
    try {
      protocol::write_frame(channel.get(), answer, protocol::Clock::now() + std::chrono::seconds(10));
    } catch (const protocol::FrameError& error) {
      spdlog::warn("front end channel: the answer was not delivered: {}", error.what());
      break;
    }
  }
}

bool FrontEndProcess::ended(std::string& status) {
  if (reaped_) return true;
  int raw = 0;
  if (::waitpid(pid_, &raw, WNOHANG) != pid_) return false;
  reaped_ = true;
  status = describe_exit(raw);
  return true;
}

void FrontEndProcess::stop(std::chrono::seconds grace) {
  std::string status;
  if (!ended(status)) {
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (!ended(status) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!ended(status)) {
      ::killpg(pid_, SIGKILL);
      int raw = 0;
      ::waitpid(pid_, &raw, 0);
      reaped_ = true;
      status = describe_exit(raw);
    }
    spdlog::info("HTTP front end {}", status);
  }
  // With the process gone every channel reads end-of-stream.
  for (std::thread& channel : channels_) {
    if (channel.joinable()) channel.join();
  }
}

}  // namespace custos::server
