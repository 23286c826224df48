#include "appliance/engine/module_log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "common/error.h"

namespace custos::engine {
namespace {

constexpr off_t kRotateAtBytes = 8 << 20;
constexpr std::size_t kBytesPerMinute = 256 << 10;
constexpr std::size_t kMaxLineBytes = 4096;
constexpr std::size_t kMinimumLineCost = 64;
constexpr std::size_t kLastLines = 3;
constexpr std::size_t kLastLineCharacters = 300;
constexpr auto kFinishGrace = std::chrono::milliseconds(200);

std::mutex log_mutex;

}  // namespace

void ModuleLog::write(const std::string& prefix, const std::string& line) const {
  std::string text = prefix + line + "\n";
  std::lock_guard lock(log_mutex);
  if (file_.empty()) {
    [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
    return;
  }
  FileDescriptor log(::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!log) return;  // the log is a convenience; a request's message carries the reason
  struct stat info {};
  if (::fstat(log.get(), &info) == 0 && info.st_size + static_cast<off_t>(text.size()) > kRotateAtBytes) {
    log.reset();
    std::filesystem::path older = file_;
    older += ".1";
    ::rename(file_.c_str(), older.c_str());
    log = FileDescriptor(::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!log) return;
  }
  [[maybe_unused]] ssize_t written = ::write(log.get(), text.data(), text.size());
}

ModuleStderr::ModuleStderr(ModuleLog log, std::string module) : log_(std::move(log)), module_(std::move(module)) {
  int pipe_ends[2];
  if (::pipe2(pipe_ends, O_CLOEXEC) != 0) throw Error(std::string("pipe for a module's stderr: ") + std::strerror(errno));
  read_end_ = FileDescriptor(pipe_ends[0]);
  write_end_ = FileDescriptor(pipe_ends[1]);
  window_start_ = std::chrono::steady_clock::now();
  reader_ = std::thread([this] { drain(); });
}

ModuleStderr::~ModuleStderr() {
  close_write_end();
  finish();
}

void ModuleStderr::close_write_end() { write_end_.reset(); }

void ModuleStderr::finish() {
  finishing_ = true;
  if (reader_.joinable()) reader_.join();
}

void ModuleStderr::drain() {
  std::string pending;
  std::optional<std::chrono::steady_clock::time_point> finish_by;
  char buffer[4096];
  for (;;) {
    if (finishing_ && !finish_by) finish_by = std::chrono::steady_clock::now() + kFinishGrace;
    if (finish_by && std::chrono::steady_clock::now() > *finish_by) break;
    pollfd readable{read_end_.get(), POLLIN, 0};
    if (::poll(&readable, 1, 50) <= 0) continue;
    ssize_t count = ::read(read_end_.get(), buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;  // every writer is gone
    pending.append(buffer, static_cast<std::size_t>(count));
    for (std::size_t end; (end = pending.find('\n')) != std::string::npos || pending.size() >= kMaxLineBytes;) {
      std::size_t cut = end == std::string::npos ? kMaxLineBytes : end;
      take(pending.substr(0, cut));
      pending.erase(0, end == std::string::npos ? cut : cut + 1);
    }
  }
  if (!pending.empty()) take(pending);
  note_dropped();
}

void ModuleStderr::note_dropped() {
  if (dropped_bytes_ == 0) return;
  log_.write("custos engine: ", module_ + ": " + std::to_string(dropped_bytes_) + " bytes of stderr over the budget of " +
                                    std::to_string(kBytesPerMinute) + " a minute were dropped");
  dropped_bytes_ = 0;
}

void ModuleStderr::take(const std::string& line) {
  {
    std::lock_guard lock(mutex_);
    // The host's own first line is the sandbox report, not the module's words.
    bool report = !report_seen_ && line.starts_with("custos-module-host: ") && line.find("namespaces") != std::string::npos;
    report_seen_ = report_seen_ || report;
    if (!report) {
      last_lines_.push_back(line.substr(0, kLastLineCharacters));
      if (last_lines_.size() > kLastLines) last_lines_.pop_front();
    }
  }
  auto now = std::chrono::steady_clock::now();
  if (now - window_start_ > std::chrono::minutes(1)) {
    note_dropped();
    window_start_ = now;
    window_bytes_ = 0;
  }
  // What the line costs the log: its bytes as written, prefix and all, and
  // at least kMinimumLineCost, so that empty lines cannot flood it either.
  std::size_t cost = std::max(line.size() + module_.size() + 4, kMinimumLineCost);
  window_bytes_ += cost;
  if (window_bytes_ > kBytesPerMinute) {
    dropped_bytes_ += line.size() + 1;
    return;
  }
  log_.write("[" + module_ + "] ", line);
}

std::string ModuleStderr::last_words() const {
  std::lock_guard lock(mutex_);
  std::string words;
  for (const std::string& line : last_lines_) words += (words.empty() ? "" : " / ") + line;
  return words;
}

}  // namespace custos::engine
