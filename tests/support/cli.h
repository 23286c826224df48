// Runs the custos binary of this build in a test's own SoftHSM environment,
// with a fresh token and a PIN file, and checks results with real clients.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "appliance/engine/authority.h"
#include "tests/support/test_token.h"

namespace custos::testing {

class CliFixture {
 public:
  // Creates token `label` (PIN 1234) and a private PIN file for it.
  explicit CliFixture(const std::string& label = "custos");

  // `custos ARGS` with --pin-file added when `with_pin` (after the
  // subcommand's own arguments).
  CommandResult custos(const std::string& arguments, bool with_pin = false) const;

  const std::filesystem::path& work() const { return work_; }
  const std::filesystem::path& pin_file() const { return pin_file_; }
  // The token options a test opens the CA with itself: the PIN from pin_file().
  engine::TokenOptions token_options() const {
    engine::TokenOptions options;
    options.pin.file = pin_file_;
    return options;
  }
  const std::string& token_label() const { return label_; }

  // Every object on the token, counted with raw PKCS#11 (the test's own
  // look, independent of the code under test).
  std::size_t token_object_count() const;

 private:
  std::string label_;
  std::filesystem::path work_;
  std::filesystem::path pin_file_;
};

// Success when the command exited 0; otherwise a failure showing its
// status, stdout and stderr.
::testing::AssertionResult succeeded(const CommandResult& result);

// Shell-quotes a path or argument.
std::string quote(const std::string& text);

// The number of lines in `text` (a trailing newline ends the last one).
std::size_t line_count(const std::string& text);

// The lines of a command's stderr that custos wrote ("custos: …"), without
// what a token's library wrote there itself (tpm2-pkcs11 and the TPM
// software stack print their own errors).
std::string custos_lines(const std::string& err);

}  // namespace custos::testing
