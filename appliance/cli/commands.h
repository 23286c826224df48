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
void run_config(const std::filesystem::path& directory, bool json);

}  // namespace custos::cli
