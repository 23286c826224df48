#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/error.h"

namespace custos {
namespace {

std::string errno_text() { return std::strerror(errno); }

FileDescriptor open_for_reading(const std::filesystem::path& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw Error("cannot open " + path.string() + ": " + errno_text());
  return fd;
}

std::size_t checked_size(const FileDescriptor& fd, const std::filesystem::path& path,
                         std::size_t max_bytes, struct stat* info) {
  if (::fstat(fd.get(), info) != 0) throw Error("cannot stat " + path.string() + ": " + errno_text());
  if (!S_ISREG(info->st_mode)) throw Error(path.string() + " is not a regular file");
  if (static_cast<std::uint64_t>(info->st_size) > max_bytes) {
    throw Error(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  return static_cast<std::size_t>(info->st_size);
}

void read_exactly(const FileDescriptor& fd, const std::filesystem::path& path, std::uint8_t* out,
                  std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd.get(), out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("cannot read " + path.string() + ": " + errno_text());
    if (n == 0) throw Error(path.string() + " changed while it was read");
    done += static_cast<std::size_t>(n);
  }
}

void write_all(int fd, const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("cannot write " + path.string() + ": " + errno_text());
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  FileDescriptor fd = open_for_reading(path);
  struct stat info {};
  std::vector<std::uint8_t> contents(checked_size(fd, path, max_bytes, &info));
  read_exactly(fd, path, contents.data(), contents.size());
  return contents;
}

std::string read_text_file(const std::filesystem::path& path, std::size_t max_bytes) {
  std::vector<std::uint8_t> bytes = read_file(path, max_bytes);
  return {bytes.begin(), bytes.end()};
}

SecureBuffer read_private_file(const std::filesystem::path& path, std::size_t max_bytes) {
  FileDescriptor fd = open_for_reading(path);
  struct stat info {};
  std::size_t size = checked_size(fd, path, max_bytes, &info);
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    throw Error(path.string() + " has mode " + mode +
                ": a secret file must not be accessible to group or other (chmod 600)");
  }
  SecureBuffer contents(size);
  read_exactly(fd, path, contents.data(), size);
  return contents;
}

void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> contents,
                       unsigned mode) {
  // A device, FIFO or terminal (/dev/stdout, a pipe) is written in place:
  // renaming a file over it would replace it, as root even /dev/null.
  std::error_code ignored;
  if (std::filesystem::exists(path, ignored) && !std::filesystem::is_regular_file(path, ignored)) {
    FileDescriptor target(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (target.get() < 0) throw Error("cannot open " + path.string() + ": " + errno_text());
    write_all(target.get(), path, contents.data(), contents.size());
    return;
  }
  std::filesystem::path temporary = path;
  temporary += ".tmp-" + std::to_string(::getpid());
  FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) throw Error("cannot create " + temporary.string() + ": " + errno_text());
  try {
    write_all(fd.get(), temporary, contents.data(), contents.size());
    if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0) {
      throw Error("cannot write " + temporary.string() + ": " + errno_text());
    }
    if (::close(fd.release()) != 0) throw Error("cannot write " + temporary.string() + ": " + errno_text());
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      throw Error("cannot rename " + temporary.string() + " to " + path.string() + ": " + errno_text());
    }
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  // Make the rename itself durable.
  std::filesystem::path parent = path.parent_path().empty() ? "." : path.parent_path();
  FileDescriptor directory(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() >= 0) ::fsync(directory.get());
}

void write_file_atomic(const std::filesystem::path& path, const std::string& contents, unsigned mode) {
  write_file_atomic(path, std::span(reinterpret_cast<const std::uint8_t*>(contents.data()), contents.size()),
                    mode);
}

bool is_relative_path_beneath(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = path.find('/', start);
    std::string name = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (name.empty() || name == "." || name == "..") return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

std::filesystem::path directory_beneath(const std::filesystem::path& base, const std::string& relative,
                                        std::optional<unsigned> owner) {
  if (!is_relative_path_beneath(relative)) {
    throw Error("'" + relative + "' is not a relative path beneath " + base.string());
  }
  FileDescriptor current(::open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (current.get() < 0) throw Error("cannot open " + base.string() + ": " + errno_text());
  std::filesystem::path reached = base;
  for (const std::filesystem::path& name : std::filesystem::path(relative)) {
    reached /= name;
    if (::mkdirat(current.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
      throw Error("cannot create " + reached.string() + ": " + errno_text());
    }
    FileDescriptor next(::openat(current.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0) {
      throw Error(reached.string() + " is not a directory beneath " + base.string() + " (" +
                  (errno == ELOOP || errno == ENOTDIR ? std::string("a symlink or a file is in the way") : errno_text()) +
                  ")");
    }
    current = std::move(next);
  }
  if (owner && ::fchown(current.get(), *owner, *owner) != 0) {
    throw Error("cannot hand " + reached.string() + " to uid " + std::to_string(*owner) + ": " + errno_text());
  }
  std::error_code error;
  std::filesystem::path named = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(current.get()), error);
  if (error) throw Error("cannot name " + reached.string() + ": " + error.message());
  return named;
}

NewPrivateDirectory::NewPrivateDirectory(const std::filesystem::path& path) : path_(path) {
  if (::mkdir(path.c_str(), 0700) != 0) throw Error("cannot create " + path.string() + ": " + errno_text());
  directory_ = FileDescriptor(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (directory_.get() < 0) throw Error("cannot use " + path.string() + ": " + errno_text());
  struct stat info {};
  // What was opened must be what mkdir made, not something put there since.
  if (::fstat(directory_.get(), &info) != 0 || info.st_uid != ::geteuid() || (info.st_mode & 07777) != 0700) {
    throw Error("cannot use " + path.string() + ": it was replaced after it was made");
  }
}

std::filesystem::path NewPrivateDirectory::inside() const {
  return "/proc/self/fd/" + std::to_string(directory_.get());
}

void NewPrivateDirectory::remove() noexcept {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(inside(), error)) std::filesystem::remove_all(entry, error);
  // Removes only an empty directory, and not a symlink put in its place.
  ::rmdir(path_.c_str());
}

void NewPrivateDirectory::give_to(unsigned uid) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(inside())) {
    if (::lchown(entry.path().c_str(), uid, static_cast<gid_t>(-1)) != 0) {
      throw Error("cannot hand " + entry.path().filename().string() + " over: " + errno_text());
    }
  }
  if (::fchown(directory_.get(), uid, static_cast<gid_t>(-1)) != 0) throw Error("cannot hand " + path_.string() + " over: " + errno_text());
}

}  // namespace custos
