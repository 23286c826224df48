// The commands of the custos CLI, one function each, given parsed options.
// Each prints its result to stdout and throws custos::Error on failure.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "appliance/engine/authority.h"

namespace custos::cli {

struct InitCommand {
  engine::InitOptions options;
  bool json = false;
};
void run_init(const InitCommand& command);

struct InstallCaCertCommand {
  std::filesystem::path directory;
  std::filesystem::path certificate_file;
  engine::TokenOptions token;
  bool json = false;
};
void run_install_ca_cert(const InstallCaCertCommand& command);

void run_ca_cert(const std::filesystem::path& directory, const std::optional<std::filesystem::path>& out);
// `custos token check`: engine/token_check.h.
void run_token_check(const engine::TokenOptions& token, bool json);

void run_config(const std::filesystem::path& directory, bool json);

// `custos lint FILE`: the engine's pre-issuance linter on a certificate or
// CRL, PEM or DER, from anywhere. Prints each finding; throws custos::Error
// (exit 1) when one is an error. A CRL is held to the TLS rules (BR 4.9.7).
void run_lint(const std::filesystem::path& file, bool json);
// `custos lint --rules`: every rule and its clause.
void run_lint_rules(bool json);

}  // namespace custos::cli
