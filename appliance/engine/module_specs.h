// How custos.toml's [policy] and [[exit]] tables become the module
// processes the engine runs: the one place that reads a module's own keys
// (timeout_ms, network, dir and its limits) out of its table, so that the
// engine and `custos module test --configured` start a module alike.
//
//   ModuleClient policy(policy_module_spec(config, directory));
#pragma once

#include <cstddef>
#include <filesystem>

#include "appliance/engine/config.h"
#include "appliance/engine/module_client.h"

namespace custos::engine {

// The policy module of `config`, for the CA in `directory`.
ModuleSpec policy_module_spec(const CaConfig& config, const std::filesystem::path& directory);

// The `index`th exit module. Makes its writable directory beneath
// `directory` (without following symlinks; handed to uid 65534 when run
// as root) if its table names one. Throws custos::Error when that fails.
ModuleSpec exit_module_spec(const CaConfig& config, std::size_t index, const std::filesystem::path& directory);

}  // namespace custos::engine
