// An exec: policy module that attacks its sandbox, for the hostile-module
// suite: `hostile_module BEHAVIOUR [ARGUMENT]`. It answers hello like a
// good module, then meets the first verify_request by trying BEHAVIOUR.
// When an attempt fails it denies the request with "blocked: …"; when an
// attempt succeeds it issues it with "BREACHED: …", which no test accepts.
// Built without sanitizers, so the sandbox's limits apply to it as to any
// third-party program. Two fail before any verify_request: `die-before-hello`
// exits at once, `silent-after-hello` reads its hello and never answers.
//
// `hostile_module lie` is the lying module: it issues every request with
// the certificate properties (C) that its configuration's `certificate`
// key holds as JSON text, whatever they are; the engine's own rules must
// refuse what they forbid.
#include <fcntl.h>
#include <sched.h>
#include <sys/timerfd.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "modules/sdk/custos_module.h"

namespace {

using custos::sdk::frame;
using custos::sdk::read_message;
using custos::sdk::write_bytes;

void verdict(const char* decision, const std::string& message) {
  write_bytes(frame({{"type", "verdict"}, {"decision", decision}, {"message", message}}));
}

void outcome(bool breached, const std::string& what) {
  verdict(breached ? "issue" : "deny", (breached ? "BREACHED: " : "blocked: ") + what);
}

std::string error_text() { return std::strerror(errno); }

nlohmann::json configuration;

void attack(const std::string& behaviour, const std::string& argument) {
  if (behaviour == "lie") {
    write_bytes(frame({{"type", "verdict"},
                       {"decision", "issue"},
                       {"message", "BREACHED: the lie was issued"},
                       {"certificate", nlohmann::json::parse(configuration.value("certificate", "{}"))}}));
  } else if (behaviour == "good") {
    verdict("issue", "a good module");
  } else if (behaviour == "open-passwd") {
    int fd = ::open("/etc/passwd", O_RDONLY);
    outcome(fd >= 0, "open /etc/passwd: " + (fd >= 0 ? std::string("opened") : error_text()));
  } else if (behaviour == "write-outside") {
    int fd = ::open(argument.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool breached = fd >= 0 && ::write(fd, "x", 1) == 1;
    outcome(breached, "write " + argument + ": " + (breached ? std::string("written") : error_text()));
  } else if (behaviour == "connect") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return outcome(false, "socket: " + error_text());
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argument.c_str())));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    outcome(connected, "connect to 127.0.0.1:" + argument + ": " + (connected ? std::string("connected") : error_text()));
  } else if (behaviour == "execve") {
    ::execl("/bin/sh", "sh", "-c", "exit 0", static_cast<char*>(nullptr));
    outcome(false, "execve /bin/sh: " + error_text());
  } else if (behaviour == "fork") {
    pid_t child = ::fork();
    if (child == 0) std::_Exit(0);
    outcome(child > 0, "fork: " + (child > 0 ? std::string("forked") : error_text()));
  } else if (behaviour == "timerfd") {
    // Harmless, but on no allow-list: it fails and the module goes on.
    int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    outcome(false, "timerfd_create: " + (fd >= 0 ? std::string("created") : error_text()));
  } else if (behaviour == "unshare") {
    int result = ::unshare(CLONE_NEWUSER);
    outcome(result == 0, "unshare: " + (result == 0 ? std::string("a new user namespace") : error_text()));
  } else if (behaviour == "ptrace") {
    long traced = ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    outcome(traced == 0, "ptrace: " + (traced == 0 ? std::string("traced") : error_text()));
  } else if (behaviour == "proc-mem") {
    std::string path = "/proc/" + argument + "/mem";
    int fd = ::open(path.c_str(), O_RDONLY);
    outcome(fd >= 0, "open " + path + ": " + (fd >= 0 ? std::string("opened") : error_text()));
  } else if (behaviour == "allocate") {
    std::size_t size = std::size_t{10} << 30;
    auto* memory = static_cast<char*>(std::malloc(size));
    if (memory != nullptr) std::memset(memory, 1, size);
    outcome(memory != nullptr, "allocate 10 GiB: " + (memory != nullptr ? std::string("allocated") : error_text()));
  } else if (behaviour == "spin") {
    for (;;) {
      asm volatile("" ::: "memory");  // a loop the compiler must keep
    }
  } else if (behaviour == "huge-frame") {
    write_bytes(std::string("\x80\x00\x00\x00", 4) + std::string(4096, 'x'));
  } else if (behaviour == "garbage") {
    write_bytes(std::string("\x00\x00\x00\x0bnot json at", 15));
  } else if (behaviour == "unknown-field") {
    write_bytes(frame({{"type", "verdict"}, {"decision", "issue"}, {"message", ""}, {"backdoor", true}}));
  } else if (behaviour == "answer-twice") {
    std::string answer = frame({{"type", "verdict"}, {"decision", "issue"}, {"message", "once"}});
    write_bytes(answer + answer);
  } else if (behaviour == "close-mid-frame") {
    write_bytes(std::string("\x00\x00\x00\x64{\"type\":", 12));
    std::_Exit(0);
  } else {
    verdict("deny", "unknown behaviour " + behaviour);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string behaviour = argc > 1 ? argv[1] : "good";
  std::string argument = argc > 2 ? argv[2] : "";
  if (behaviour == "die-before-hello") {
    std::fputs("hostile: the configuration names no server\n", stderr);
    return 42;
  }
  configuration = read_message().value("config", nlohmann::json::object());  // hello
  if (behaviour == "silent-after-hello") {  // reads its hello and never answers it
    for (;;) ::pause();
  }
  write_bytes(frame({{"type", "hello"}, {"protocol", 1}, {"name", "hostile-" + behaviour}}));
  for (;;) {
    nlohmann::json message = read_message();
    if (message.value("type", "") == "shutdown") return 0;
    attack(behaviour, argument);
  }
}
