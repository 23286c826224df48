// custos [--dir DIR] COMMAND [OPTIONS] — see README.md and `custos --help`.
//
// The program users run. It answers one command line itself:
// `custos submit` when a custosd serves the CA directory, which a script
// runs once per certificate. That answer needs only the socket, so this
// program links neither OpenSSL nor SQLCipher nor the engine: starting
// with them took more than half of such a submit (bench/README.md, "A
// submit through custosd that loads only what it needs"). Every other
// command line, and submit with no custosd, is the whole command line's:
// custos-cli (libexec/custos/) runs in this process's place with the same
// arguments, so its parser, its help and its errors are the only ones.
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "appliance/cli/output.h"
#include "appliance/operations/daemon_client.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/programs.h"

namespace {

struct DaemonSubmit {
  std::filesystem::path directory;
  std::filesystem::path request_file;
  std::optional<std::filesystem::path> out;
  std::string profile;
  std::vector<std::string> attributes;
  bool json = false;
};

// The command line, when it is `[--dir DIR] submit` followed by --csr
// (required), --out, --profile, --attr (repeatable), --json and the token
// options, which custosd does not need: each value as "--name VALUE" or
// "--name=VALUE", not empty and not starting with '-', each option once
// but --attr. Anything else is custos-cli's to read, mistakes included.
std::optional<DaemonSubmit> parse_daemon_submit(int argc, char** argv) {
  DaemonSubmit submit;
  std::optional<std::string> directory;
  std::optional<std::string> request_file;
  std::optional<std::string> out;
  std::optional<std::string> profile;
  std::optional<std::string> ignored_token_option[3];
  bool json = false;
  bool pin_stdin = false;
  bool after_command = false;
  for (int index = 1; index < argc; ++index) {
    std::string_view argument = argv[index];
    if (!after_command && argument == "submit") {
      after_command = true;
      continue;
    }
    if (argument == "--json" || argument == "--pin-stdin") {
      bool& flag = argument == "--json" ? json : pin_stdin;
      if (!after_command || flag) return std::nullopt;
      flag = true;
      continue;
    }
    std::string_view name = argument.substr(0, argument.find('='));
    std::string value;
    if (name.size() < argument.size()) {
      value = argument.substr(name.size() + 1);
    } else if (index + 1 < argc) {
      value = argv[++index];
    }
    if (value.empty() || value.front() == '-') return std::nullopt;
    std::optional<std::string>* slot = nullptr;
    if (!after_command && name == "--dir") slot = &directory;
    if (after_command && name == "--csr") slot = &request_file;
    if (after_command && name == "--out") slot = &out;
    if (after_command && name == "--profile") slot = &profile;
    if (after_command && name == "--hsm-module") slot = &ignored_token_option[0];
    if (after_command && name == "--token") slot = &ignored_token_option[1];
    if (after_command && name == "--pin-file") slot = &ignored_token_option[2];
    if (after_command && name == "--attr") {
      submit.attributes.push_back(value);
      continue;
    }
    if (slot == nullptr || *slot) return std::nullopt;
    *slot = value;
  }
  if (!after_command || !request_file) return std::nullopt;
  if (directory) {
    submit.directory = *directory;
  } else {
    try {
      submit.directory = custos::cli::default_directory();
    } catch (const std::exception&) {
      return std::nullopt;  // custos-cli says why
    }
  }
  submit.request_file = *request_file;
  if (out) submit.out = *out;
  submit.profile = profile.value_or("");
  submit.json = json;
  return submit;
}

// What custos-cli's submit does through custosd, with the same calls, the
// same output and the same exit status.
int submit_through(custos::operations::DaemonConnection& daemon, const DaemonSubmit& submit) {
  return custos::cli::exit_status_of([&] {
    std::map<std::string, std::string> attributes = custos::cli::submit_attributes(submit.attributes, submit.profile);
    std::vector<std::uint8_t> request = custos::read_file(submit.request_file, custos::cli::kMaxInputBytes);
    nlohmann::json disposition =
        daemon.call(custos::operations::Op::kSubmit, custos::cli::submit_call_arguments(request, attributes));
    std::string certificate_pem;
    if (auto certificate = disposition.find("certificate"); certificate != disposition.end()) {
      certificate_pem = custos::pem_armour("CERTIFICATE", custos::from_base64(certificate->get<std::string>()));
      disposition.erase(certificate);
    }
    custos::cli::print_disposition(disposition, submit.json, submit.out, certificate_pem);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (std::optional<DaemonSubmit> submit = parse_daemon_submit(argc, argv)) {
    std::optional<custos::operations::DaemonConnection> daemon;
    try {
      daemon = custos::operations::DaemonConnection::connect(submit->directory);
    } catch (const std::exception&) {
      // custos-cli meets the same refusal and says it.
    }
    if (daemon) return submit_through(*daemon, *submit);
  }
  return custos::cli::exit_status_of(
      [argv] { custos::run_in_place(custos::Program::kCommandLine, argv, custos::NameAs::kAsGiven); });
}
