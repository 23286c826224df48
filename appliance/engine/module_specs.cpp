#include "appliance/engine/module_specs.h"

#include <unistd.h>

#include <optional>

#include "common/files.h"

namespace custos::engine {
namespace {

// What every module of the CA shares: its sandbox setting and its log.
ModuleSpec common_spec(const CaConfig& config, const ModuleSection& section, const std::filesystem::path& directory) {
  ModuleSpec spec;
  spec.module = section.module;
  spec.config = section.config;
  spec.timeout = std::chrono::milliseconds(config.policy_timeout_ms);
  spec.require_namespaces = config.require_namespaces;
  spec.log_file = directory / "modules.log";
  spec.network = section.whole_network;
  spec.destinations = section.destinations;
  spec.hidden_directories = {std::filesystem::absolute(directory)};
  spec.ca = config.ca.name;
  return spec;
}

}  // namespace

ModuleSpec policy_module_spec(const CaConfig& config, const std::filesystem::path& directory) {
  ModuleSpec spec = common_spec(config, config.policy, directory);
  spec.config = config.policy.config;
  return spec;
}

ModuleSpec exit_module_spec(const CaConfig& config, std::size_t index, const std::filesystem::path& directory) {
  const ModuleSection& section = config.exits.at(index);
  ModuleSpec spec = common_spec(config, section, directory);
  spec.role = protocol::Role::kExit;
  // The table's own keys for the engine, in custos.toml's units (config.cpp
  // checked them); the rest is the module's hello.config.
  if (spec.config.contains("timeout_ms") && spec.config["timeout_ms"].is_number_integer()) {
    spec.timeout = std::chrono::milliseconds(spec.config["timeout_ms"].get<std::int64_t>());
    spec.config.erase("timeout_ms");
  }
  if (spec.config.contains("dir_max_mb")) {
    spec.directory_max_bytes = spec.config["dir_max_mb"].get<std::uint64_t>() << 20;
    spec.config.erase("dir_max_mb");
  }
  if (spec.config.contains("dir_max_files")) {
    spec.directory_max_files = spec.config["dir_max_files"].get<std::uint64_t>();
    spec.config.erase("dir_max_files");
  }
  if (spec.config.contains("dir")) {
    // The one directory the module may write: made here, beneath the CA
    // directory without following a symlink (config.cpp refused an
    // absolute path and ".."), given to the module's uid, and bound into
    // its sandbox.
    std::filesystem::path writable =
        directory_beneath(std::filesystem::absolute(directory), spec.config.value("dir", ""),
                          ::geteuid() == 0 ? std::optional<unsigned>(65534) : std::nullopt);
    spec.config["dir"] = writable.string();
    spec.writable_directory = writable;
  }
  return spec;
}

}  // namespace custos::engine
