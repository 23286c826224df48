// Where the user PIN comes from: a file that only its owner can read, the
// first line of standard input, or the file named by CUSTOS_PIN_FILE. Never
// argv, never an environment variable's value.
//
//   SecureBuffer pin = read_pin({.file = options.pin_file, .from_stdin = options.pin_stdin});
#pragma once

#include <filesystem>
#include <optional>

#include "common/secure_buffer.h"

namespace custos::hsm {

struct PinSource {
  std::optional<std::filesystem::path> file;  // --pin-file
  bool from_stdin = false;                    // --pin-stdin
};

// Reads the PIN, in this order: --pin-file, --pin-stdin, $CUSTOS_PIN_FILE.
// A trailing newline is removed. Throws custos::UsageError when no source is
// given or two are, custos::Error when the source cannot be used.
SecureBuffer read_pin(const PinSource& source);

}  // namespace custos::hsm
