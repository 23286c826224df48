// custos [--dir DIR] COMMAND [OPTIONS] — see CONTRACT.md and `custos --help`.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "appliance/cli/commands.h"
#include "common/error.h"

namespace {

using custos::engine::TokenOptions;

std::filesystem::path default_directory() {
  const char* from_environment = std::getenv("CUSTOS_DIR");
  return from_environment != nullptr && *from_environment != '\0' ? std::filesystem::path(from_environment)
                                                                    : std::filesystem::current_path();
}

// The token options of every command that opens the CA.
void add_token_options(CLI::App* command, TokenOptions& token, std::string& module, std::string& label,
                       std::string& pin_file) {
  command->add_option("--hsm-module", module, "the PKCS#11 library (default: from custos.toml)");
  command->add_option("--token", label, "the token's label (default: from custos.toml)");
  command->add_option("--pin-file", pin_file, "a file holding the user PIN, readable by its owner only");
  command->add_flag("--pin-stdin", token.pin.from_stdin, "read the user PIN from the first line of standard input");
  // CUSTOS_PIN_FILE is read when neither is given.
}

void finish_token_options(TokenOptions& token, const std::string& module, const std::string& label,
                          const std::string& pin_file) {
  if (!module.empty()) token.module = module;
  if (!label.empty()) token.label = label;
  if (!pin_file.empty()) token.pin.file = pin_file;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"custos: a certificate authority whose keys never leave a PKCS#11 token"};
  app.require_subcommand(1);
  std::string directory_text;
  app.add_option("--dir", directory_text, "the CA directory (default: $CUSTOS_DIR, else the current directory)");

  std::string module;
  std::string label;
  std::string pin_file;
  std::string csr_out;
  std::string database_key_method;

  custos::cli::InitCommand init;
  CLI::App* init_command = app.add_subcommand("init", "create a CA: key on the token, certificate or request, database");
  init_command->add_option("--subject", init.options.subject, "the CA's name, e.g. \"CN=Example Root,O=Example\"")
      ->required();
  init_command->add_option("--key", init.options.key_type, "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
      ->required();
  init_command->add_option("--days", init.options.validity_days, "validity of a root certificate in days (3650)");
  init_command->add_flag("--subordinate", init.options.subordinate, "make a request to a parent CA instead");
  init_command->add_option("--csr-out", csr_out, "with --subordinate: where to write the request (PEM)");
  init_command->add_option("--db-key-method", database_key_method,
                           "hmac-sha256 or rsa-oaep (default: what the token offers, hmac-sha256 first)");
  init_command->add_flag("--json", init.json, "print the result as JSON");
  add_token_options(init_command, init.options.token, module, label, pin_file);

  custos::cli::InstallCaCertCommand install;
  std::string certificate_file;
  CLI::App* install_command =
      app.add_subcommand("install-ca-cert", "install a subordinate CA's certificate signed by its parent");
  install_command->add_option("--cert", certificate_file, "PEM: the CA certificate, then its issuers up to the root")
      ->required();
  install_command->add_flag("--json", install.json, "print the result as JSON");
  add_token_options(install_command, install.token, module, label, pin_file);

  std::string out;
  CLI::App* ca_cert_command = app.add_subcommand("ca-cert", "print the CA certificate chain (PEM)");
  ca_cert_command->add_option("--out", out, "write it to this file instead");

  bool config_json = false;
  CLI::App* config_command = app.add_subcommand("config", "show the CA's configuration");
  config_command->add_flag("--json", config_json, "print it as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int status = app.exit(error);
    return status == 0 ? 0 : 2;
  }

  std::filesystem::path directory = directory_text.empty() ? default_directory() : std::filesystem::path(directory_text);
  try {
    if (init_command->parsed()) {
      init.options.directory = directory;
      init.options.actor = custos::engine::local_actor();
      if (!csr_out.empty()) init.options.csr_out = csr_out;
      if (!database_key_method.empty()) init.options.database_key_method = database_key_method;
      finish_token_options(init.options.token, module, label, pin_file);
      custos::cli::run_init(init);
    } else if (install_command->parsed()) {
      install.directory = directory;
      install.certificate_file = certificate_file;
      finish_token_options(install.token, module, label, pin_file);
      custos::cli::run_install_ca_cert(install);
    } else if (ca_cert_command->parsed()) {
      custos::cli::run_ca_cert(directory, out.empty() ? std::nullopt : std::optional<std::filesystem::path>(out));
    } else if (config_command->parsed()) {
      custos::cli::run_config(directory, config_json);
    }
  } catch (const custos::UsageError& error) {
    std::cerr << "custos: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "custos: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
