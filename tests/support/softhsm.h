// A private SoftHSMv2 token store for one test process: a temporary
// directory with its own softhsm2.conf, pointed at by SOFTHSM2_CONF before
// any module is loaded, and removed when the process ends.
//
//   SoftHsm& hsm = SoftHsm::instance();
//   hsm.create_token("test", "1234");
//   auto module = Module::load(SoftHsm::module_path());
#pragma once

#include <filesystem>
#include <string>

namespace custos::testing {

class SoftHsm {
 public:
  static SoftHsm& instance();
  static std::filesystem::path module_path() { return CUSTOS_SOFTHSM_MODULE; }

  // Initialises a new token in the first free slot.
  void create_token(const std::string& label, const std::string& pin, const std::string& so_pin = "5678");

  const std::filesystem::path& directory() const { return directory_; }
  const std::filesystem::path& config() const { return config_; }

  // A fresh directory under this process's temporary directory.
  std::filesystem::path make_directory(const std::string& name);

  ~SoftHsm();

 private:
  SoftHsm();
  std::filesystem::path directory_;
  std::filesystem::path config_;
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
