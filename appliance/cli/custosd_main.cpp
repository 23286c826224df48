// custosd [--dir DIR] [--listen HOST:PORT] [--plain-listen HOST:PORT] plus the
// token options: the same as `custos serve` (appliance/server/daemon.h).
#include <string>
#include <vector>

#include "appliance/cli/main.h"

int main(int argc, char** argv) {
  // custosd --version and --help are custos's own.
  if (argc == 2 && (std::string(argv[1]) == "--version")) return custos::cli::run(argc, argv);
  static char serve[] = "serve";
  std::vector<char*> arguments = {argv[0]};
  // --dir belongs before the command; everything else after it.
  int index = 1;
  for (; index + 1 < argc && std::string(argv[index]) == "--dir"; index += 2) {
    arguments.push_back(argv[index]);
    arguments.push_back(argv[index + 1]);
  }
  arguments.push_back(serve);
  for (; index < argc; ++index) arguments.push_back(argv[index]);
  return custos::cli::run(static_cast<int>(arguments.size()), arguments.data());
}
