// custos module test: runs a module through the scripted exchange of
// modules/sdk/PROTOCOL.md — hello, then verify_request (a policy module;
// a first submission and an administrator's resubmission) or notify (an
// exit module; each request event it asked for), then shutdown — under the
// real sandbox, without a CA, and reports each step. Exit status 1 at the
// first protocol error, naming it. With `configured`, the module is the
// CA's own, started exactly as the engine starts it from custos.toml: its
// configuration, timeout, network list, directory and limits.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace custos::cli {

struct ModuleTestCommand {
  std::string module;  // builtin:NAME, or a program path (with arguments) run as exec:
  std::string role = "policy";
  std::filesystem::path config_file;  // JSON for hello.config; {} when empty
  std::string subject = "CN=module-test.example";
  // "policy", or "exit" / "exit:N" (the Nth [[exit]] table, from 0), of the
  // CA in `directory`.
  std::string configured;
  std::filesystem::path directory;
};

void run_module_test(const ModuleTestCommand& command);

}  // namespace custos::cli
