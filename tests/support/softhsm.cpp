#include "tests/support/softhsm.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace custos::testing {

SoftHsm& SoftHsm::instance() {
  static SoftHsm hsm;
  return hsm;
}

SoftHsm::SoftHsm() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/custos-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  directory_ = pattern;
  std::filesystem::create_directory(directory_ / "tokens");
  config_ = directory_ / "softhsm2.conf";
  write_file(config_,
             "directories.tokendir = " + (directory_ / "tokens").string() +
                 "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
             0644);
  ::setenv("SOFTHSM2_CONF", config_.c_str(), 1);
}

SoftHsm::~SoftHsm() {
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void SoftHsm::create_token(const std::string& label, const std::string& pin, const std::string& so_pin) {
  CommandResult result = run_command(std::string(CUSTOS_SOFTHSM_UTIL) + " --init-token --free --label '" + label +
                                     "' --pin '" + pin + "' --so-pin '" + so_pin + "'");
  if (result.status != 0) throw std::runtime_error("softhsm2-util --init-token failed: " + result.err + result.out);
}

std::filesystem::path SoftHsm::make_directory(const std::string& name) {
  std::filesystem::path path = directory_ / name;
  std::filesystem::create_directories(path);
  return path;
}

CommandResult run_command(const std::string& command) {
  // Files of its own, so that commands run from several threads at once.
  static std::atomic<int> commands_run{0};
  std::string name = "command-" + std::to_string(++commands_run);
  std::filesystem::path out = SoftHsm::instance().directory() / (name + ".out");
  std::filesystem::path err = SoftHsm::instance().directory() / (name + ".err");
  std::string full = "(" + command + ") >'" + out.string() + "' 2>'" + err.string() + "' </dev/null";
  int raw = std::system(full.c_str());
  CommandResult result;
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  result.out = read_file(out);
  result.err = read_file(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return result;
}

void write_file(const std::filesystem::path& path, const std::string& contents, unsigned mode) {
  {
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream << contents;
    if (!stream) throw std::runtime_error("cannot write " + path.string());
  }
  ::chmod(path.c_str(), mode);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::stringstream contents;
  contents << stream.rdbuf();
  return contents.str();
}

}  // namespace custos::testing
