#include "tests/support/daemon.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

extern char** environ;

namespace custos::testing {
namespace {

bool port_answers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

}  // namespace

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

Daemon::Daemon(const CliFixture& cli, const std::filesystem::path& directory, Start how)
    : log_(cli.work() / "custosd.log") {
  // A port free when asked can be taken before custosd binds it (a
  // parallel test, a client's ephemeral port): a start that fails on
  // that alone is tried again on fresh ports.
  for (int attempt = 1;; ++attempt) {
    https_port_ = free_port();
    http_port_ = free_port();
    if (start(directory, cli.pin_file(), how) || attempt == 5) return;
  }
}

bool Daemon::start(const std::filesystem::path& directory, const std::filesystem::path& pin_file, Start how) {
  const char* program = how == Start::kCustosd ? CUSTOS_DAEMON : CUSTOS_CLI;
  std::vector<std::string> arguments = {program,
                                        "--dir",
                                        directory.string(),
                                        "--pin-file",
                                        pin_file.string(),
                                        "--listen",
                                        "127.0.0.1:" + std::to_string(https_port_),
                                        "--plain-listen",
                                        "127.0.0.1:" + std::to_string(http_port_)};
  if (how == Start::kCustosServe) arguments.insert(arguments.begin() + 3, "serve");
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  // The log is appended to across starts; this start's lines follow `earlier`.
  std::size_t earlier = read_file(log_).size();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  int spawned = ::posix_spawn(&pid_, program, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) throw std::runtime_error("custosd could not be started");
  std::filesystem::path socket = directory / "custosd.sock";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(std::filesystem::exists(socket) && port_answers(https_port_) && port_answers(http_port_))) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string log = read_file(log_);
      if (log.find("cannot listen on", earlier) != std::string::npos) return false;
      throw std::runtime_error("custosd exited at start:\n" + log);
    }
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("custosd did not start:\n" + read_file(log_));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Daemon::signal(int number) const { ::kill(pid_, number); }

int Daemon::stop(int seconds) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

long Daemon::resident_kb() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace custos::testing
