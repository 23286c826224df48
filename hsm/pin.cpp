#include "hsm/pin.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/files.h"

namespace custos::hsm {
namespace {

// PKCS#11 PINs are short; anything longer is a mistake (a key file, say).
constexpr std::size_t kMaxPinBytes = 256;

SecureBuffer strip_line_end(SecureBuffer pin) {
  std::size_t size = pin.size();
  while (size > 0 && (pin.data()[size - 1] == '\n' || pin.data()[size - 1] == '\r')) --size;
  pin.truncate(size);
  return pin;
}

SecureBuffer read_pin_from_stdin() {
  SecureBuffer buffer(kMaxPinBytes);
  std::size_t size = 0;
  // One byte at a time up to the newline, so nothing after the PIN is
  // consumed from a shared stdin.
  while (size < buffer.size()) {
    ssize_t n = ::read(STDIN_FILENO, buffer.data() + size, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(std::string("reading the PIN from standard input: ") + std::strerror(errno));
    if (n == 0 || buffer.data()[size] == '\n') break;
    ++size;
  }
  buffer.truncate(size);
  return buffer;
}

SecureBuffer read_pin_file(const std::filesystem::path& path) {
  try {
    return read_private_file(path, kMaxPinBytes);
  } catch (const Error&) {
    rethrow_with_context("reading the PIN file");
  }
}

}  // namespace

SecureBuffer read_pin(const PinSource& source) {
  if (source.file && source.from_stdin) throw UsageError("give the PIN with --pin-file or --pin-stdin, not both");
  SecureBuffer pin;
  if (source.file) {
    pin = read_pin_file(*source.file);
  } else if (source.from_stdin) {
    pin = read_pin_from_stdin();
  } else if (const char* path = std::getenv("CUSTOS_PIN_FILE"); path != nullptr && *path != '\0') {
    pin = read_pin_file(path);
  } else {
    throw UsageError("no token PIN given: use --pin-file FILE, --pin-stdin or CUSTOS_PIN_FILE");
  }
  pin = strip_line_end(std::move(pin));
  if (pin.empty()) throw Error("the token PIN is empty");
  return pin;
}

}  // namespace custos::hsm
