// custos [--dir DIR] COMMAND [OPTIONS] — see README.md and `custos --help`.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "appliance/cli/main.h"

int main(int argc, char** argv) {
  // `custos serve` is custosd: the same arguments, run by the custosd
  // installed beside this binary, which holds the daemon's code.
  auto serve = [argv](const custos::cli::ServeOptions&) -> int {
    std::error_code error;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
    std::filesystem::path daemon = self.parent_path() / "custosd";
    if (error || ::access(daemon.c_str(), X_OK) != 0) {
      std::cerr << "custos: serve runs custosd, which is not beside " << (error ? "custos" : self.string())
                << "; run custosd itself\n";
      return 1;
    }
    argv[0] = const_cast<char*>(daemon.c_str());
    ::execv(daemon.c_str(), argv);
    std::cerr << "custos: running " << daemon.string() << ": " << std::strerror(errno) << "\n";
    return 1;
  };
  return custos::cli::run(argc, argv, serve);
}
