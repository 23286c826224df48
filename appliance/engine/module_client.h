// The engine's side of one module: it starts the module's process with a
// socket, says hello, asks its questions under a deadline, and turns every
// way a module can fail — a crash, a hang, garbage, a broken protocol —
// into a ModuleFailure whose message says what happened. After a failure
// the process is gone (killed if need be) and the next question starts a
// new one.
//
//   ModuleClient policy({.module = "builtin:profiles", .config = profiles, .timeout = 2s});
//   protocol::Verdict verdict = policy.verify(request);   // or throws ModuleFailure
//   ModuleClient file({.module = "builtin:file", .role = protocol::Role::kExit, …});
//   file.notify(event);                                   // returns once acknowledged
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "appliance/engine/module_log.h"
#include "common/error.h"
#include "common/files.h"
#include "modules/protocol/frame.h"
#include "modules/protocol/messages.h"

namespace custos::engine {

class ModuleFailure : public Error {
 public:
  CUSTOS_ERROR_TYPE(ModuleFailure)
  using Error::Error;
};

// An event that no frame can hold (notify() sends nothing of it): held in
// the outbox it would hold every later event, so the caller skips it.
class UndeliverableEvent : public Error {
 public:
  CUSTOS_ERROR_TYPE(UndeliverableEvent)
  using Error::Error;
};

struct ModuleSpec {
  std::string module;  // builtin:NAME or exec:PATH [ARGS]; either runs under custos-module-host
  protocol::Role role = protocol::Role::kPolicy;
  nlohmann::json config = nlohmann::json::object();
  std::string ca;  // hello.ca: the CA's name
  std::chrono::milliseconds timeout{2000};
  bool require_namespaces = false;  // [sandbox] require_namespaces
  bool network = false;             // the module's own `network = true`: the engine's whole network
  std::vector<std::string> destinations;  // `network = [...]`: "HOST:PORT" it may connect to, and nothing else
  // Directories no module may see, nor any directory above them: the CA
  // directory (a script kept there is seen alone, not its neighbours).
  std::vector<std::filesystem::path> hidden_directories;
  std::optional<std::filesystem::path> writable_directory;
  // What the writable directory may hold in all; the module is stopped
  // when a write takes it past.
  std::uint64_t directory_max_bytes = 256ull << 20;
  std::uint64_t directory_max_files = 100'000;
  // Where the module's stderr (read through a pipe, module_log.h) and the
  // engine's notes on it go; empty: the engine's own stderr.
  std::filesystem::path log_file;
};

class ModuleClient {
 public:
  explicit ModuleClient(ModuleSpec spec);
  ~ModuleClient();  // asks the module to shut down, and kills it if it does not
  ModuleClient(const ModuleClient&) = delete;
  ModuleClient& operator=(const ModuleClient&) = delete;

  // A policy module's verdict.
  protocol::Verdict verify(const protocol::VerifyRequest& request);
  // Delivers one event to an exit module; returns once it acknowledged.
  // A CRL over one frame goes in parts (protocol::notify_parts), each
  // acknowledged. Throws UndeliverableEvent, before sending anything, for
  // an event a frame cannot hold even so.
  void notify(const protocol::Notify& event);
  // The events an exit module asked for in its hello (starts it if need be).
  const std::vector<std::string>& events();
  // Starts the module's process and sends its hello without waiting for the
  // answer, so that the process starts while the engine does other work (a
  // command opening the token and the database); the first question reads
  // the answer, under a deadline counted from then. When the module cannot
  // be started, that question fails with the reason.
  void prestart();
  const ModuleSpec& spec() const { return spec_; }
  // Asks the module to shut down and says how its process ended ("exited
  // with status 0"); empty when none was running.
  std::string shut_down();
  // Sends the module its shutdown without waiting for the process to end,
  // so that it ends while the engine finishes other work; shut_down() (or
  // the destructor) then reaps it. A question after this starts a new one.
  void ask_to_shut_down();

  // How many times a module process was started (restarts included).
  int starts() const { return starts_; }

 private:
  void start();
  void launch();       // spawns the process and sends its hello
  void await_hello();  // reads the hello's answer
  void ensure_started();
  void log(const std::string& line) const;
  nlohmann::json exchange(const nlohmann::json& message);  // a question and its answer, under one deadline
  void send(const nlohmann::json& message, protocol::Deadline deadline);
  nlohmann::json receive(protocol::Deadline deadline);
  [[noreturn]] void fail_on(const protocol::FrameError& error);
  [[noreturn]] void fail(const std::string& what);
  std::string reap();  // waits for the process; says how it ended

  ModuleSpec spec_;
  pid_t pid_ = -1;
  FileDescriptor socket_;
  int starts_ = 0;
  int consecutive_failures_ = 0;
  bool hello_pending_ = false;  // launched, its hello's answer not read yet
  bool shutdown_sent_ = false;  // the running process has had its shutdown
  std::optional<std::string> prestart_failure_;  // why prestart() could not start it
  std::vector<std::string> events_;
  std::unique_ptr<ModuleStderr> stderr_;  // the running process's, or the last one's
};

}  // namespace custos::engine
