// The HTTP front end's seccomp filter (install_front_end_filter), each case
// in a process of its own: what custos-http does to serve (worker threads,
// accepting a connection on a socket bound before, I/O, memory) still
// works; what a compromised front end would try next fails cleanly
// (opening a file, making a socket) or kills it with SIGSYS (connecting,
// executing, forking, tracing, executable memory, signalling another
// process, new namespaces).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "sandbox/seccomp_policy.h"

namespace custos::host {
namespace {

// As the sandbox does before any filter (sandbox.cpp).
void enter_filter() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) std::_Exit(90);
  install_front_end_filter();
}

// A listener on 127.0.0.1 with one client already connected to it: what
// custos-http holds when its filter goes on.
struct Listener {
  int listening = -1;
  int client = -1;
};

Listener listener_with_a_waiting_client() {
  Listener result;
  result.listening = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (result.listening < 0 || ::bind(result.listening, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(result.listening, 4) != 0 ||
      ::getsockname(result.listening, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::_Exit(91);
  }
  result.client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(result.client, reinterpret_cast<sockaddr*>(&address), length) != 0) std::_Exit(92);
  return result;
}

class FrontEndFilter : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// What serving takes: threads, an accepted connection with its options and
// I/O, heap memory; exits 0 only when every step worked.
void serve_one_exchange() {
  Listener listener = listener_with_a_waiting_client();
  enter_filter();
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  for (int index = 0; index < 8; ++index) workers.emplace_back([&] { done += 1; });
  for (std::thread& worker : workers) worker.join();
  if (done != 8) std::_Exit(10);

  int connection = ::accept(listener.listening, nullptr, nullptr);
  if (connection < 0) std::_Exit(11);
  int yes = 1;
  if (::setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes) != 0) std::_Exit(12);
  timeval timeout{10, 0};
  if (::setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) std::_Exit(13);
  if (::send(listener.client, "ping", 4, MSG_NOSIGNAL) != 4) std::_Exit(14);
  char received[4];
  if (::recv(connection, received, sizeof received, MSG_WAITALL) != 4) std::_Exit(15);
  if (::shutdown(connection, SHUT_RDWR) != 0 || ::close(connection) != 0) std::_Exit(16);
  std::vector<char> memory(64 << 20, 'x');
  std::_Exit(memory.back() == 'x' ? 0 : 17);
}

TEST_F(FrontEndFilter, ServingStillWorks) { EXPECT_EXIT(serve_one_exchange(), ::testing::ExitedWithCode(0), ""); }

TEST_F(FrontEndFilter, ASocketOptionBeyondTimeoutsAndNodelayKillsIt) {
  auto attempt = [] {
    Listener listener = listener_with_a_waiting_client();
    enter_filter();
    int on = 1;
    ::setsockopt(listener.client, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &on, sizeof on);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

// Stopped and continued in the middle of a sleep (a debugger, a cgroup
// freeze, kill -STOP): the kernel resumes the sleep with restart_syscall.
TEST_F(FrontEndFilter, AStopAndContinueInTheMiddleOfASleepIsSurvived) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    enter_filter();
    timespec second{1, 0};
    ::nanosleep(&second, nullptr);
    std::_Exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(child, SIGSTOP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(::kill(child, SIGCONT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << (WIFSIGNALED(status) ? std::string("killed by ") + ::strsignal(WTERMSIG(status)) : "exited");
}

TEST_F(FrontEndFilter, OpeningAFileFailsWithEacces) {
  auto attempt = [] {
    enter_filter();
    int fd = ::open("/etc/hostname", O_RDONLY);
    std::_Exit(fd < 0 && errno == EACCES ? 0 : 1);
  };
  EXPECT_EXIT(attempt(), ::testing::ExitedWithCode(0), "");
}

TEST_F(FrontEndFilter, MakingASocketFailsWithEacces) {
  auto attempt = [] {
    enter_filter();
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    std::_Exit(fd < 0 && errno == EACCES ? 0 : 1);
  };
  EXPECT_EXIT(attempt(), ::testing::ExitedWithCode(0), "");
}

TEST_F(FrontEndFilter, ConnectingAnywhereKillsIt) {
  auto attempt = [] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    enter_filter();
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(22);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(FrontEndFilter, ExecutingAProgramKillsIt) {
  auto attempt = [] {
    enter_filter();
    char program[] = "/bin/true";
    char* arguments[] = {program, nullptr};
    ::execve(program, arguments, nullptr);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(FrontEndFilter, ForkingKillsIt) {
  auto attempt = [] {
    enter_filter();
    ::fork();
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(FrontEndFilter, TracingKillsIt) {
  auto attempt = [] {
    enter_filter();
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(FrontEndFilter, ExecutableMemoryKillsIt) {
  auto attempt = [] {
    enter_filter();
    ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(FrontEndFilter, SignallingAnotherProcessKillsIt) {
  auto attempt = [] {
    pid_t parent = ::getppid();
    enter_filter();
    ::kill(parent, 0);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(FrontEndFilter, ANewNamespaceKillsIt) {
  auto attempt = [] {
    enter_filter();
    ::unshare(CLONE_NEWUSER);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(FrontEndFilter, ListeningOnANewPortKillsIt) {
  auto attempt = [] {
    Listener listener = listener_with_a_waiting_client();
    enter_filter();
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener.client, reinterpret_cast<sockaddr*>(&address), sizeof address);
    std::_Exit(0);
  };
  EXPECT_EXIT(attempt(), ::testing::KilledBySignal(SIGSYS), "");
}

}  // namespace
}  // namespace custos::host
