// custos-cli [--dir DIR] COMMAND [OPTIONS]: the whole command line, which
// `custos` runs in its place — see README.md and `custos --help`.
#include <iostream>

#include "appliance/cli/main.h"
#include "common/error.h"
#include "common/programs.h"

int main(int argc, char** argv) {
  // `custos serve` is custosd: the same arguments, run by the custosd
  // installed with this binary, which holds the daemon's code.
  auto serve = [argv](const custos::cli::ServeOptions&) -> int {
    try {
      custos::run_in_place(custos::Program::kDaemon, argv, custos::NameAs::kItsPath);
    } catch (const custos::Error& error) {
      std::cerr << "custos: serve runs custosd: " << error.what() << "; run custosd itself\n";
    }
    return 1;
  };
  return custos::cli::run(argc, argv, serve);
}
