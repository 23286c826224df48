#include "appliance/engine/module_client.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

#include "modules/protocol/frame.h"

namespace custos::engine {
namespace {

// The socket goes to fd 3 in a builtin host; to 0 and 1 (stdin and stdout)
// in an exec: module. Keep the parent's copies above both.
constexpr int kFirstFreeFd = 10;
constexpr std::chrono::milliseconds kExitGrace{500};

int dup_above(int fd) {
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, kFirstFreeFd);
  ::close(fd);
  if (moved < 0) throw Error(std::string("fcntl: ") + std::strerror(errno));
  return moved;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    switch (WEXITSTATUS(status)) {
      case 3:
        return "exited refusing its configuration (status 3)";
      case 4:
        return "exited on a protocol violation (status 4)";
      default:
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    }
  }
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

}  // namespace

std::string module_host_path() {
  if (const char* path = std::getenv("CUSTOS_MODULE_HOST"); path != nullptr && *path != '\0') return path;
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return (self.parent_path() / "custos-module-host").string();
}

PolicyClient::PolicyClient(ModuleSpec spec) : spec_(std::move(spec)) {}

PolicyClient::~PolicyClient() { stop(); }

void PolicyClient::start() {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    throw ModuleFailure(std::string("socketpair: ") + std::strerror(errno));
  }
  int engine_end = dup_above(pair[0]);
  int module_end = dup_above(pair[1]);

  std::vector<std::string> arguments;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (spec_.module.rfind("builtin:", 0) == 0) {
    arguments = {module_host_path(), spec_.module};
    posix_spawn_file_actions_adddup2(&actions, module_end, 3);
  } else {
    arguments = split_words(spec_.module.substr(5));  // after "exec:"
    posix_spawn_file_actions_adddup2(&actions, module_end, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, module_end, STDOUT_FILENO);
  }
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  // A clean environment: nothing of the engine's reaches a module.
  std::string path_variable = "PATH=/usr/local/bin:/usr/bin:/bin";
  std::string locale_variable = "LANG=C.UTF-8";
  char* environment[] = {path_variable.data(), locale_variable.data(), nullptr};

  pid_t pid = -1;
  int spawned = argv.size() > 1 ? ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environment) : EINVAL;
  posix_spawn_file_actions_destroy(&actions);
  ::close(module_end);
  if (spawned != 0) {
    ::close(engine_end);
    throw ModuleFailure("the " + spec_.module + " module could not be started: " + std::strerror(spawned));
  }
  pid_ = pid;
  socket_ = engine_end;
  ++starts_;

  protocol::Hello hello{protocol::Role::kPolicy, spec_.config};
  protocol::HelloAnswer answer;
  try {
    answer = protocol::decode_hello_answer(exchange(protocol::encode(hello)), protocol::Role::kPolicy);
  } catch (const protocol::ProtocolError& error) {
    fail(std::string("answered hello wrongly: ") + error.what());
  }
}

nlohmann::json PolicyClient::exchange(const nlohmann::json& message) {
  protocol::Deadline deadline = protocol::Clock::now() + spec_.timeout;
  try {
    protocol::write_frame(socket_, message, deadline);
    return protocol::read_frame(socket_, deadline);
  } catch (const protocol::FrameError& error) {
    switch (error.kind()) {
      case protocol::FrameError::Kind::kTimeout:
        fail("did not answer within " + std::to_string(spec_.timeout.count()) + " ms");
      case protocol::FrameError::Kind::kClosed:
        fail("closed the connection");
      default:
        fail(std::string("sent a bad frame: ") + error.what());
    }
  }
}

void PolicyClient::fail(const std::string& what) {
  std::string ending = reap();
  throw ModuleFailure("the policy module " + spec_.module + " " + what + (ending.empty() ? "" : "; it " + ending));
}

std::string PolicyClient::reap() {
  if (pid_ < 0) return {};
  if (socket_ >= 0) ::close(socket_);
  socket_ = -1;
  int status = 0;
  auto give_up = std::chrono::steady_clock::now() + kExitGrace;
  pid_t done = 0;
  while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string ending;
  if (done == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    ending = "was killed by the engine";
  } else if (done > 0) {
    ending = describe_status(status);
  }
  pid_ = -1;
  return ending;
}

void PolicyClient::stop() {
  if (pid_ < 0) return;
  try {
    protocol::write_frame(socket_, protocol::encode_shutdown(), protocol::Clock::now() + spec_.timeout);
  } catch (const protocol::FrameError&) {
    // The module is gone already; reap() finds out how.
  }
  reap();
}

protocol::Verdict PolicyClient::verify(const protocol::VerifyRequest& request) {
  if (pid_ < 0) start();
  try {
    return protocol::decode_verdict(exchange(protocol::encode(request)));
  } catch (const protocol::ProtocolError& error) {
    fail(std::string("answered with a bad verdict: ") + error.what());
  }
}

}  // namespace custos::engine
