#include "sandbox/directory_quota.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sandbox/sandbox.h"

namespace custos::host {
namespace {

[[noreturn]] void refuse(const std::string& message) {
  std::fprintf(stderr, "custos-module-host: sandbox: %s\n", message.c_str());
  std::_Exit(kSandboxRefused);
}

constexpr std::uint32_t kWatched = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE;

}  // namespace

DirectoryQuota::DirectoryQuota(const std::filesystem::path& directory, DirectoryLimit limit)
    : path_(directory), limit_(limit) {
  directory_ = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  events_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (directory_ < 0 || events_ < 0 ||
      ::inotify_add_watch(events_, directory.c_str(), kWatched | IN_DONT_FOLLOW | IN_ONLYDIR) < 0) {
    refuse("cannot watch " + directory.string() + " for its limit: " + std::strerror(errno));
  }
  count_all();
}

DirectoryQuota::~DirectoryQuota() {
  if (directory_ >= 0) ::close(directory_);
  if (events_ >= 0) ::close(events_);
}

// Bytes on disk, not the length: a sparse file costs what it allocates.
void DirectoryQuota::count(const std::string& name) {
  if (auto known = sizes_.find(name); known != sizes_.end()) {
    total_ -= known->second;
    sizes_.erase(known);
  }
  struct stat info {};
  if (::fstatat(directory_, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) return;  // gone again
  std::uint64_t bytes = static_cast<std::uint64_t>(info.st_blocks) * 512;
  sizes_[name] = bytes;
  total_ += bytes;
}

void DirectoryQuota::count_all() {
  sizes_.clear();
  total_ = 0;
  // A description of its own: a duplicate would share the read position
  // the last listing left at the end.
  int fresh = ::openat(directory_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* listing = fresh >= 0 ? ::fdopendir(fresh) : nullptr;
  if (listing == nullptr && fresh >= 0) ::close(fresh);
  if (listing == nullptr) return;
  while (dirent* entry = ::readdir(listing)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") count(name);
  }
  ::closedir(listing);
}

std::optional<std::string> DirectoryQuota::over_limit() const {
  if (total_ <= limit_.max_bytes && sizes_.size() <= limit_.max_files) return std::nullopt;
  return "the module's directory " + path_.string() + " holds " + std::to_string(total_) + " bytes in " +
         std::to_string(sizes_.size()) + " files, over its limit of " + std::to_string(limit_.max_bytes) +
         " bytes and " + std::to_string(limit_.max_files) + " files";
}

std::optional<std::string> DirectoryQuota::take_events() {
  alignas(inotify_event) char buffer[16384];
  for (;;) {
    ssize_t length = ::read(events_, buffer, sizeof buffer);
    if (length <= 0) break;
    for (char* at = buffer; at < buffer + length;) {
      auto* event = reinterpret_cast<inotify_event*>(at);
      if ((event->mask & IN_Q_OVERFLOW) != 0) {
        count_all();
      } else if (event->len > 0) {
        count(event->name);
      }
      at += sizeof(inotify_event) + event->len;
    }
  }
  return over_limit();
}

}  // namespace custos::host
