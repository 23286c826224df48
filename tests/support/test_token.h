// A private token store for one test process, of the family the run asks
// for: CUSTOS_TEST_TOKEN=softhsm (the default), a SoftHSMv2 store in a
// temporary directory with its own softhsm2.conf; or CUSTOS_TEST_TOKEN=tpm,
// a software TPM 2.0 with tpm2-pkcs11 brought up by scripts/tpm-token in
// that directory. The environment is set before any module is loaded
// (CUSTOS_HSM_MODULE too, so that `custos init` finds the token), and
// everything is stopped and removed when the process ends.
//
//   TestToken& token = TestToken::instance();
//   token.create_token("test", "1234");
//   auto module = Module::load(TestToken::module_path());
#pragma once

#include <filesystem>
#include <string>

namespace custos::testing {

enum class TokenFamily { kSoftHsm, kTpm };

class TestToken {
 public:
  static TestToken& instance();
  static std::filesystem::path module_path() { return instance().module_; }
  static TokenFamily family() { return instance().family_; }

  // Makes a new token.
  void create_token(const std::string& label, const std::string& pin, const std::string& so_pin = "5678");

  const std::filesystem::path& directory() const { return directory_; }

  // A fresh directory under this process's temporary directory.
  std::filesystem::path make_directory(const std::string& name);

  ~TestToken();
  TestToken(const TestToken&) = delete;
  TestToken& operator=(const TestToken&) = delete;

 private:
  TestToken();
  TokenFamily family_ = TokenFamily::kSoftHsm;
  std::filesystem::path directory_;
  std::filesystem::path module_;
};

// Runs a shell command; returns its exit status, with stdout and stderr.
struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::string& command);

// Writes `contents` to `path` with `mode`.
void write_file(const std::filesystem::path& path, const std::string& contents, unsigned mode = 0600);
std::string read_file(const std::filesystem::path& path);

}  // namespace custos::testing
