#include "appliance/engine/module_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "common/files.h"
#include "common/process.h"
#include "common/programs.h"
#include "modules/protocol/frame.h"

namespace custos::engine {
namespace {

constexpr std::chrono::milliseconds kExitGrace{500};

// Whether the child `pid` ends within `grace`; its zombie is left standing.
// A pidfd reads ready the moment it ends, so a command waits for its host
// no longer than the host takes (a 5 ms sleep between looks cost every CLI
// command most of those 5 ms); without one (Linux before 5.3) it looks
// every 5 ms.
bool ends_within(pid_t pid, std::chrono::milliseconds grace) {
  FileDescriptor handle(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  auto give_up = std::chrono::steady_clock::now() + grace;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
    if (info.si_pid == pid) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd watched{handle.get(), POLLIN, 0};
    auto wait = handle ? left.count() + 1 : std::min<std::chrono::milliseconds::rep>(left.count(), 5);
    ::poll(&watched, handle ? 1 : 0, static_cast<int>(wait));
  }
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

// The module host's own exit statuses, then how any child ends.
std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    switch (WEXITSTATUS(status)) {
      case 3:
        return "exited refusing its configuration (status 3)";
      case 4:
        return "exited on a protocol violation (status 4)";
      case 6:
        return "could not be sandboxed (status 6; see the module log)";
      case 7:
        return "could not start the module's program (status 7; see the module log)";
      case 8:
        return "could not publish the event (status 8; see the module log)";
      case 10:
        return "was stopped by the sandbox for a forbidden system call (status 10)";
      case 11:
        return "was stopped: its directory outgrew its limit (status 11)";
      default:
        break;
    }
  }
  return describe_exit(status);
}

}  // namespace

ModuleClient::ModuleClient(ModuleSpec spec) : spec_(std::move(spec)) {}

ModuleClient::~ModuleClient() { shut_down(); }

void ModuleClient::start() {
  launch();
  await_hello();
}

void ModuleClient::ensure_started() {
  if (prestart_failure_) {
    std::string failure = std::move(*prestart_failure_);
    prestart_failure_.reset();
    throw ModuleFailure(failure);
  }
  if (shutdown_sent_) reap();
  if (pid_ < 0) {
    start();
  } else if (hello_pending_) {
    await_hello();
  }
}

void ModuleClient::prestart() {
  if (shutdown_sent_) reap();
  if (pid_ >= 0) return;
  try {
    launch();
  } catch (const ModuleFailure& failure) {
    prestart_failure_ = failure.what();
  }
}

void ModuleClient::launch() {
  // A module that keeps dying is started again, but not in a tight loop.
  if (consecutive_failures_ > 0) {
    auto backoff = std::chrono::milliseconds(50) * (1 << std::min(consecutive_failures_ - 1, 5));
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(backoff, std::chrono::seconds(2)));
  }
  std::vector<std::string> arguments = {program_path(Program::kModuleHost).string()};
  if (spec_.require_namespaces) arguments.emplace_back("--require-namespaces");
  if (spec_.network) arguments.emplace_back("--network");
  for (const std::filesystem::path& hidden : spec_.hidden_directories) {
    arguments.emplace_back("--hide");
    arguments.push_back(hidden.string());
  }
  for (const std::string& destination : spec_.destinations) {
    arguments.emplace_back("--connect");
    arguments.push_back(destination);
  }
  if (spec_.writable_directory) {
    arguments.emplace_back("--writable-dir");
    arguments.push_back(spec_.writable_directory->string());
    arguments.emplace_back("--writable-limit");
    arguments.push_back(std::to_string(spec_.directory_max_bytes));
    arguments.push_back(std::to_string(spec_.directory_max_files));
  }
  if (spec_.module.rfind("exec:", 0) == 0) {
    std::vector<std::string> words = split_words(spec_.module.substr(5));
    if (words.empty()) throw ModuleFailure("the module '" + spec_.module + "' names no program");
    arguments.push_back("exec:" + words.front());
    arguments.insert(arguments.end(), words.begin() + 1, words.end());
  } else {
    arguments.push_back(spec_.module);
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    throw ModuleFailure(std::string("socketpair: ") + std::strerror(errno));
  }
  FileDescriptor engine_end(pair[0]);
  FileDescriptor module_end(pair[1]);

  // The socket on fd 3, stderr into a pipe the engine reads, a process
  // group of its own so the host and the module it forked die together;
  // nothing else of the engine's reaches a module.
  pid_t pid = -1;
  try {
    stderr_ = std::make_unique<ModuleStderr>(ModuleLog(spec_.log_file), spec_.module);
    pid = spawn_isolated({arguments, {module_end.get()}, std::nullopt, stderr_->write_end(), {}});
  } catch (const Error& error) {
    throw ModuleFailure("the " + spec_.module + " module: " + error.what());
  }
  stderr_->close_write_end();
  // Only the module holds its end now: if it dies, even before its hello,
  // the engine reads end-of-stream at once instead of waiting out the
  // deadline.
  module_end = FileDescriptor();
  pid_ = pid;
  socket_ = std::move(engine_end);
  // Non-blocking, so a module that stops reading cannot hold the engine in
  // a send past the deadline.
  ::fcntl(socket_.get(), F_SETFL, ::fcntl(socket_.get(), F_GETFL) | O_NONBLOCK);
  ++starts_;
  if (starts_ > 1) log("restarting " + spec_.module + " (start " + std::to_string(starts_) + ")");

  protocol::Hello hello{spec_.role, spec_.config, spec_.ca};
  send(protocol::encode(hello), protocol::Clock::now() + spec_.timeout);
  hello_pending_ = true;
}

void ModuleClient::await_hello() {
  hello_pending_ = false;
  try {
    // After a prestart the module has had the time the engine took
    // meanwhile, and the whole timeout from now besides.
    events_ = protocol::decode_hello_answer(receive(protocol::Clock::now() + spec_.timeout), spec_.role).events;
  } catch (const protocol::ProtocolError& error) {
    fail(std::string("answered hello wrongly: ") + error.what());
  }
}

void ModuleClient::log(const std::string& line) const { ModuleLog(spec_.log_file).write("custos engine: ", line); }

nlohmann::json ModuleClient::exchange(const nlohmann::json& message) {
  protocol::Deadline deadline = protocol::Clock::now() + spec_.timeout;
  send(message, deadline);
  return receive(deadline);
}

void ModuleClient::send(const nlohmann::json& message, protocol::Deadline deadline) {
  // The module speaks only when asked: bytes waiting before a question are
  // an answer it should not have given (a late second answer, say).
  char early = 0;
  if (::recv(socket_.get(), &early, 1, MSG_PEEK | MSG_DONTWAIT) == 1) fail("spoke without being asked");
  try {
    protocol::write_frame(socket_.get(), message, deadline);
  } catch (const protocol::FrameError& error) {
    fail_on(error);
  }
}

nlohmann::json ModuleClient::receive(protocol::Deadline deadline) {
  try {
    nlohmann::json answer = protocol::read_frame(socket_.get(), deadline);
    // One question, one answer: anything more is the module speaking out of turn.
    pollfd more{socket_.get(), POLLIN, 0};
    if (::poll(&more, 1, 0) > 0 && (more.revents & POLLIN) != 0) {
      char byte = 0;
      if (::recv(socket_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1) fail("answered more than once");
    }
    return answer;
  } catch (const protocol::FrameError& error) {
    fail_on(error);
  }
}

void ModuleClient::fail_on(const protocol::FrameError& error) {
  switch (error.kind()) {
    case protocol::FrameError::Kind::kTimeout:
      fail("did not answer within " + std::to_string(spec_.timeout.count()) + " ms");
    case protocol::FrameError::Kind::kClosed:
      fail("closed the connection");
    default:
      fail(std::string("sent a bad frame: ") + error.what());
  }
}

void ModuleClient::fail(const std::string& what) {
  std::string ending = reap();
  ++consecutive_failures_;
  std::string account = spec_.module + " " + what + (ending.empty() ? "" : "; it " + ending);
  log(account);
  // What the module said last is often the reason (a traceback's last line).
  std::string words = stderr_ ? stderr_->last_words() : "";
  throw ModuleFailure(std::string(spec_.role == protocol::Role::kPolicy ? "the policy module " : "the exit module ") +
                      account + (words.empty() ? "" : "; its last words on stderr: \"" + words + "\""));
}

std::string ModuleClient::reap() {
  if (pid_ < 0) return {};
  socket_.reset();
  // Wait a little for the host to end by itself, without reaping it: while
  // its zombie stands, its process group id cannot be reused, so killing
  // the group reaches only what the host and its module left behind.
  bool ended = ends_within(pid_, kExitGrace);
  ::killpg(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  std::string ending = ended ? describe_status(status) : "was killed by the engine";
  pid_ = -1;
  hello_pending_ = false;
  shutdown_sent_ = false;
  if (stderr_) stderr_->finish();
  return ending;
}

std::string ModuleClient::shut_down() {
  ask_to_shut_down();
  return reap();
}

void ModuleClient::ask_to_shut_down() {
  if (pid_ < 0 || shutdown_sent_) return;
  shutdown_sent_ = true;
  try {
    protocol::write_frame(socket_.get(), protocol::encode_shutdown(), protocol::Clock::now() + spec_.timeout);
  } catch (const protocol::FrameError&) {
    // The module is gone already; reap() finds out how.
  }
}

protocol::Verdict ModuleClient::verify(const protocol::VerifyRequest& request) {
  ensure_started();
  try {
    protocol::Verdict verdict = protocol::decode_verdict(exchange(protocol::encode(request)));
    consecutive_failures_ = 0;
    return verdict;
  } catch (const protocol::ProtocolError& error) {
    fail(std::string("answered with a bad verdict: ") + error.what());
  }
}

void ModuleClient::notify(const protocol::Notify& event) {
  std::vector<nlohmann::json> messages;
  for (const protocol::Notify& part : protocol::notify_parts(event)) {
    messages.push_back(protocol::encode(part));
    if (messages.back().dump().size() > protocol::kMaxFrameBytes) {
      throw UndeliverableEvent("event " + std::to_string(event.id) + " (" + event.event + ") does not fit in a frame");
    }
  }
  ensure_started();
  try {
    // The event counts as delivered once the module has acked its last part.
    for (const nlohmann::json& message : messages) protocol::decode_ack(exchange(message));
    consecutive_failures_ = 0;
  } catch (const protocol::ProtocolError& error) {
    fail(std::string("answered an event wrongly: ") + error.what());
  }
}

const std::vector<std::string>& ModuleClient::events() {
  ensure_started();
  return events_;
}

}  // namespace custos::engine
