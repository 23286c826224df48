// File I/O with the checks a CA needs: size limits on input, atomic
// replacement of output (temp file, fsync, rename), and a refusal to read
// secrets from files that others can read.
#pragma once

#include <cstddef>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/secure_buffer.h"

namespace custos {

// Owns a file descriptor: closed on every path out.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }
  // Closes the descriptor now; errno is kept for the caller's message.
  void reset() {
    int saved = errno;
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    errno = saved;
  }

 private:
  int fd_;
};

// Reads a whole file, refusing one larger than `max_bytes`.
std::vector<std::uint8_t> read_file(const std::filesystem::path& path, std::size_t max_bytes);
std::string read_text_file(const std::filesystem::path& path, std::size_t max_bytes);

// Reads a secret file into secure memory. Refuses a file that group or other
// may read or write, naming the mode, so a PIN never sits in a shared file.
SecureBuffer read_private_file(const std::filesystem::path& path, std::size_t max_bytes);

// Writes `contents` to a temporary file beside `path`, fsyncs it and renames
// it over `path`, so a reader sees the old file or the new one, never half.
// A `path` that is a device, FIFO or terminal is written in place instead.
void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> contents,
                       unsigned mode = 0644);
void write_file_atomic(const std::filesystem::path& path, const std::string& contents,
                       unsigned mode = 0644);

// True for a relative path of one or more names, none of them "..", ".",
// or empty: what names a place beneath a directory and nowhere else.
bool is_relative_path_beneath(const std::string& path);

// The directory `relative` (checked by is_relative_path_beneath) beneath
// `base`, made where missing (mode 0755), each step opened without
// following a symlink, so a link planted on the way cannot lead out of
// `base`. With `owner`, the last directory is handed to that uid and gid
// through its descriptor. Returns its absolute path, as the kernel names
// the directory reached. Throws custos::Error naming the step that failed.
std::filesystem::path directory_beneath(const std::filesystem::path& base, const std::string& relative,
                                        std::optional<unsigned> owner);

// A directory this process created (mode 0700, refused when the path
// exists) and holds open. Its contents are reached through
// /proc/self/fd/N, so renaming the path or putting a symlink in its place
// afterwards redirects nothing written into it — what a process writing
// where a less trusted caller named must rely on.
class NewPrivateDirectory {
 public:
  explicit NewPrivateDirectory(const std::filesystem::path& path);

  // Where to write: "/proc/self/fd/N".
  std::filesystem::path inside() const;
  // Everything in it, then the directory itself: to undo a failed write.
  void remove() noexcept;
  // Hands it and everything in it to `uid` (symlinks not followed).
  void give_to(unsigned uid);

 private:
  std::filesystem::path path_;
  FileDescriptor directory_;
};

}  // namespace custos
