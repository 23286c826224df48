#include "appliance/server/front_end_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "modules/protocol/frame.h"

namespace custos::server {
namespace {

constexpr int kChannels = 4;
constexpr int kFirstChannelFd = 3;

std::string front_end_path() {
  if (const char* path = std::getenv("CUSTOS_HTTP_FRONT_END"); path != nullptr && *path != '\0') return path;
  std::error_code error;
  return (std::filesystem::read_symlink("/proc/self/exe", error).parent_path() / "custos-http").string();
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + ::strsignal(WTERMSIG(status));
  return "ended";
}

}  // namespace

FrontEndProcess::FrontEndProcess(FrontEndSpec spec, Api& api, std::function<void()> after_call)
    : api_(api), after_call_(std::move(after_call)) {
  std::vector<std::string> arguments = {front_end_path(),          "--listen",           spec.listen,
                                        "--certificate",           spec.certificate.string(),
                                        "--key",                   spec.key.string(),
                                        "--client-ca",             spec.client_ca.string(),
                                        "--max-connections",       std::to_string(spec.max_connections),
                                        "--channels",              std::to_string(kChannels)};
  if (!spec.plain_listen.empty()) {
    arguments.emplace_back("--plain-listen");
    arguments.push_back(spec.plain_listen);
  }
  if (spec.require_namespaces) arguments.emplace_back("--require-namespaces");
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::string path_variable = "PATH=/usr/bin:/bin";
  std::string locale_variable = "LANG=C.UTF-8";
  char* environment[] = {path_variable.data(), locale_variable.data(), nullptr};

  // Our ends stay here (close-on-exec); theirs land on fds 3… in the child.
  std::vector<int> ours;
  std::vector<int> theirs;
  for (int index = 0; index < kChannels; ++index) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      throw Error(std::string("socketpair: ") + std::strerror(errno));
    }
    ours.push_back(pair[0]);
    // Above the range dup2 writes to, so no channel overwrites another.
    theirs.push_back(::fcntl(pair[1], F_DUPFD_CLOEXEC, kFirstChannelFd + kChannels));
    ::close(pair[1]);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int index = 0; index < kChannels; ++index) {
    posix_spawn_file_actions_adddup2(&actions, theirs[index], kFirstChannelFd + index);
  }
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&actions, kFirstChannelFd + kChannels);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  int spawned = ::posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), environment);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  for (int fd : theirs) ::close(fd);
  if (spawned != 0) {
    for (int fd : ours) ::close(fd);
    throw Error("the HTTP front end " + std::string(argv[0]) + " could not be started: " + std::strerror(spawned));
  }
  for (int fd : ours) channels_.emplace_back([this, fd] { serve(fd); });
  spdlog::info("HTTP front end started (pid {}), HTTPS on {}{}", pid_, spec.listen,
               spec.plain_listen.empty() ? "" : ", plain HTTP on " + spec.plain_listen);
}

FrontEndProcess::~FrontEndProcess() { stop(std::chrono::seconds(0)); }

void FrontEndProcess::serve(int channel) {
  for (;;) {
    nlohmann::json call;
    try {
      call = protocol::read_frame(channel, std::nullopt);
    } catch (const protocol::FrameError& error) {
      if (error.kind() != protocol::FrameError::Kind::kClosed) spdlog::warn("front end channel: {}", error.what());
      break;
    }
    nlohmann::json answer = api_.handle(call, std::nullopt);
    if (after_call_) after_call_();
    try {
      protocol::write_frame(channel, answer, protocol::Clock::now() + std::chrono::seconds(10));
    } catch (const protocol::FrameError& error) {
      spdlog::warn("front end channel: the answer was not delivered: {}", error.what());
      break;
    }
  }
  ::close(channel);
}

bool FrontEndProcess::ended(std::string& status) {
  if (reaped_) return true;
  int raw = 0;
  if (::waitpid(pid_, &raw, WNOHANG) != pid_) return false;
  reaped_ = true;
  status = describe_status(raw);
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
      status = describe_status(raw);
    }
    spdlog::info("HTTP front end {}", status);
  }
  // With the process gone every channel reads end-of-stream.
  for (std::thread& channel : channels_) {
    if (channel.joinable()) channel.join();
  }
}

}  // namespace custos::server
