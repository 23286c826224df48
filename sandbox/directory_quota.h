// The limit on a module's one writable directory: how many bytes and files
// it may hold in all. The module host's supervisor (sandbox.cpp), which
// waits outside the module's filter, watches the directory with inotify
// and keeps a running total from the events' names; the moment a write
// takes the total past the limit it stops the module. A file is capped
// besides by RLIMIT_FSIZE, so the directory can pass its limit by at most
// the writes in flight when the supervisor looks.
//
//   DirectoryQuota quota(directory, {.max_bytes = 256 << 20, .max_files = 100'000});   // before the fork
//   … poll(quota.descriptor()) …
//   if (std::optional<std::string> over = quota.take_events()) { stop the module; log *over; }
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace custos::host {

struct DirectoryLimit {
  std::uint64_t max_bytes = 0;
  std::uint64_t max_files = 0;
};

class DirectoryQuota {
 public:
  // Opens and watches `directory` (the real one, before any view is built)
  // and counts what it holds. Exits the host (status 6) if it cannot.
  DirectoryQuota(const std::filesystem::path& directory, DirectoryLimit limit);
  ~DirectoryQuota();
  DirectoryQuota(const DirectoryQuota&) = delete;
  DirectoryQuota& operator=(const DirectoryQuota&) = delete;

  // The inotify descriptor to poll.
  int descriptor() const { return events_; }
  // Its two descriptors, for a process that moves the ones it keeps to
  // fixed numbers (sandbox.cpp's supervisor); renumber() tells it where.
  int directory_descriptor() const { return directory_; }
  void renumber(int directory, int events) {
    directory_ = directory;
    events_ = events;
  }
  // Reads the waiting events and updates the total. Returns a one-line
  // account when the directory is over its limit.
  std::optional<std::string> take_events();

 private:
  void count(const std::string& name);
  void count_all();
  std::optional<std::string> over_limit() const;

  std::filesystem::path path_;
  DirectoryLimit limit_;
  int directory_ = -1;
  int events_ = -1;
  std::map<std::string, std::uint64_t> sizes_;  // name → bytes on disk
  std::uint64_t total_ = 0;
};

}  // namespace custos::host
