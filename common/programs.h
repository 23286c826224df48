// Where Custos's own programs are: custosd (beside custos in a build tree,
// in sbin/ when installed), custos-module-host and custos-http (in
// libexec/custos/ when installed). Found from the running executable, so
// that a build tree (every program in build/PRESET/bin/) and an installed
// tree wherever its prefix is (a DESTDIR staging too) both work, with no
// variable set. CUSTOS_MODULE_HOST and CUSTOS_HTTP_FRONT_END override the
// two helpers (tests that put another program in their place).
//
//   std::filesystem::path host = program_path(Program::kModuleHost);
#pragma once

#include <filesystem>

namespace custos {

enum class Program { kDaemon, kModuleHost, kHttpFrontEnd };

// The program's path; throws custos::Error naming where it looked when it is
// in none of those places.
std::filesystem::path program_path(Program program);

}  // namespace custos
