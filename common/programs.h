// Where Custos's own programs are: custosd (beside custos in a build tree,
// in sbin/ when installed), custos-cli, custos-module-host and custos-http
// (in libexec/custos/ when installed). Found from the running executable, so
// that a build tree (every program in build/PRESET/bin/) and an installed
// tree wherever its prefix is (a DESTDIR staging too) both work, with no
// variable set. CUSTOS_MODULE_HOST and CUSTOS_HTTP_FRONT_END override the
// two helpers (tests that put another program in their place).
//
//   std::filesystem::path host = program_path(Program::kModuleHost);
#pragma once

#include <filesystem>

namespace custos {

// kCommandLine is the whole command line (custos-cli), which `custos` runs
// for every command it does not answer itself.
enum class Program { kDaemon, kCommandLine, kModuleHost, kHttpFrontEnd };

// The program's path; throws custos::Error naming where it looked when it is
// in none of those places.
std::filesystem::path program_path(Program program);

// What a program run in this process's place sees as its name, argv[0].
enum class NameAs { kAsGiven, kItsPath };

// Runs `program` in this process's place with `argv`. Returns only by
// throwing custos::Error: it is not installed, or cannot be run.
[[noreturn]] void run_in_place(Program program, char** argv, NameAs name);

}  // namespace custos
