// File I/O with the checks a CA needs: size limits on input, atomic
// replacement of output (temp file, fsync, rename), and a refusal to read
// secrets from files that others can read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/secure_buffer.h"

namespace custos {

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

// A directory this process created (mode 0700, refused when the path
// exists) and holds open. Its contents are reached through
// /proc/self/fd/N, so renaming the path or putting a symlink in its place
// afterwards redirects nothing written into it — what a process writing
// where a less trusted caller named must rely on.
class NewPrivateDirectory {
 public:
  explicit NewPrivateDirectory(const std::filesystem::path& path);
  ~NewPrivateDirectory();
  NewPrivateDirectory(const NewPrivateDirectory&) = delete;
  NewPrivateDirectory& operator=(const NewPrivateDirectory&) = delete;

  // Where to write: "/proc/self/fd/N".
  std::filesystem::path inside() const;
  // Everything in it, then the directory itself: to undo a failed write.
  void remove() noexcept;
  // Hands it and everything in it to `uid` (symlinks not followed).
  void give_to(unsigned uid);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace custos
