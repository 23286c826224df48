// custos [--dir DIR] COMMAND [OPTIONS] — see README.md and `custos --help`.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "appliance/cli/main.h"
#include "common/error.h"
#include "common/programs.h"

int main(int argc, char** argv) {
  // `custos serve` is custosd: the same arguments, run by the custosd
  // installed with this binary, which holds the daemon's code.
  auto serve = [argv](const custos::cli::ServeOptions&) -> int {
    std::filesystem::path daemon;
    try {
      daemon = custos::program_path(custos::Program::kDaemon);
    } catch (const custos::Error& error) {
      std::cerr << "custos: serve runs custosd: " << error.what() << "; run custosd itself\n";
      return 1;
    }
    argv[0] = const_cast<char*>(daemon.c_str());
    ::execv(daemon.c_str(), argv);
    std::cerr << "custos: running " << daemon.string() << ": " << std::strerror(errno) << "\n";
    return 1;
  };
  return custos::cli::run(argc, argv, serve);
}
