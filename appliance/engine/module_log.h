// What modules say on stderr, read by the engine through a pipe and never
// written by a module itself: `modules.log` in the CA directory, each line
// prefixed with the module's name, rotated at 8 MiB (one older file,
// modules.log.1), and at most 256 KiB a minute from any one module (what is
// dropped is counted in the log). A module's last lines are kept for the
// message of a request its failure left pending.
//
//   ModuleStderr stderr_of(ModuleLog(directory / "modules.log"), "exec:/opt/site/policy.py");
//   spawn(… stderr = stderr_of.write_end() …); stderr_of.close_write_end();
//   …
//   stderr_of.finish();                       // the process is gone: read to the end
//   std::string words = stderr_of.last_words();  // "Traceback … / ValueError: …"
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "common/files.h"

namespace custos::engine {

// Appends lines to the module log (or, with an empty path, to the engine's
// own stderr). Thread-safe: the readers of every module write under one
// lock.
class ModuleLog {
 public:
  explicit ModuleLog(std::filesystem::path file) : file_(std::move(file)) {}
  void write(const std::string& prefix, const std::string& line) const;

 private:
  std::filesystem::path file_;
};

// One module process's stderr: a pipe whose read end a thread drains into
// the log while the process lives.
class ModuleStderr {
 public:
  ModuleStderr(ModuleLog log, std::string module);
  ~ModuleStderr();
  ModuleStderr(const ModuleStderr&) = delete;
  ModuleStderr& operator=(const ModuleStderr&) = delete;

  // The descriptor the child gets as its stderr; the parent closes its copy
  // once the child is spawned.
  int write_end() const { return write_end_.get(); }
  void close_write_end();
  // Waits until the reader has read to the end of the pipe (every writer
  // gone), or for a short grace if something left behind still holds it.
  void finish();
  // The module's last lines (at most 3, each cut at 300 characters), joined
  // with " / "; empty when it said nothing.
  std::string last_words() const;

 private:
  void drain();
  void take(const std::string& line);
  void note_dropped();

  ModuleLog log_;
  std::string module_;
  FileDescriptor read_end_;
  FileDescriptor write_end_;
  std::atomic<bool> finishing_{false};
  std::thread reader_;
  mutable std::mutex mutex_;
  std::deque<std::string> last_lines_;
  bool report_seen_ = false;
  // The per-minute budget.
  std::chrono::steady_clock::time_point window_start_;
  std::size_t window_bytes_ = 0;
  std::size_t dropped_bytes_ = 0;
};

}  // namespace custos::engine
