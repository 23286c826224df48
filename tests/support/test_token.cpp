#include "tests/support/test_token.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace custos::testing {

TestToken& TestToken::instance() {
  static TestToken token;
  return token;
}

namespace {

TokenFamily family_from_environment() {
  const char* name = std::getenv("CUSTOS_TEST_TOKEN");
  if (name == nullptr || *name == '\0' || std::string(name) == "softhsm") return TokenFamily::kSoftHsm;
  if (std::string(name) == "tpm") return TokenFamily::kTpm;
  throw std::runtime_error(std::string("CUSTOS_TEST_TOKEN is softhsm or tpm, not ") + name);
}

// Runs `command` with its output in files under `scratch`.
CommandResult run_command_in(const std::filesystem::path& scratch, const std::string& command) {
  // Files of its own, so that commands run from several threads at once.
  static std::atomic<int> commands_run{0};
  std::string name = "command-" + std::to_string(++commands_run);
  std::filesystem::path out = scratch / (name + ".out");
  std::filesystem::path err = scratch / (name + ".err");
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

// Sets each NAME=VALUE line of `file` in this process's environment.
void set_environment_from(const std::filesystem::path& file) {
  std::ifstream lines(file);
  for (std::string line; std::getline(lines, line);) {
    std::size_t equals = line.find('=');
    if (equals != std::string::npos) ::setenv(line.substr(0, equals).c_str(), line.substr(equals + 1).c_str(), 1);
  }
}

}  // namespace

TestToken::TestToken() : family_(family_from_environment()) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/custos-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  directory_ = pattern;
  if (family_ == TokenFamily::kSoftHsm) {
    std::filesystem::create_directory(directory_ / "tokens");
    std::filesystem::path config = directory_ / "softhsm2.conf";
    write_file(config,
               "directories.tokendir = " + (directory_ / "tokens").string() +
                   "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
               0644);
    ::setenv("SOFTHSM2_CONF", config.c_str(), 1);
    module_ = CUSTOS_SOFTHSM_MODULE;
  } else {
    CommandResult started = run_command_in(directory_, std::string(CUSTOS_TPM_TOKEN_SCRIPT) + " start '" + (directory_ / "tpm").string() + "' -");
    if (started.status != 0) throw std::runtime_error("scripts/tpm-token start failed: " + started.err + started.out);
    set_environment_from(directory_ / "tpm" / "env");
    module_ = std::getenv("CUSTOS_TPM_MODULE");
  }
  ::setenv("CUSTOS_HSM_MODULE", module_.c_str(), 1);
}

TestToken::~TestToken() {
  if (family_ == TokenFamily::kTpm) run_command_in(directory_, std::string(CUSTOS_TPM_TOKEN_SCRIPT) + " stop '" + (directory_ / "tpm").string() + "'");
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void TestToken::create_token(const std::string& label, const std::string& pin, const std::string& so_pin) {
  std::string command = family_ == TokenFamily::kSoftHsm
                            ? std::string(CUSTOS_SOFTHSM_UTIL) + " --init-token --free --label '" + label + "' --pin '" +
                                  pin + "' --so-pin '" + so_pin + "'"
                            : "tpm2_ptool addtoken --pid=1 --label='" + label + "' --userpin='" + pin + "' --sopin='" +
                                  so_pin + "' --path '" + (directory_ / "tpm" / "store").string() + "'";
  CommandResult result = run_command(command);
  if (result.status != 0) throw std::runtime_error("making token " + label + " failed: " + result.err + result.out);
}

std::filesystem::path TestToken::make_directory(const std::string& name) {
  std::filesystem::path path = directory_ / name;
  std::filesystem::create_directories(path);
  return path;
}

CommandResult run_command(const std::string& command) {
  return run_command_in(TestToken::instance().directory(), command);
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
