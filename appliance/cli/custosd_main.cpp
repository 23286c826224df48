// custosd [--dir DIR] [--listen HOST:PORT] [--plain-listen HOST:PORT] plus the
// token options: the same as `custos serve` (appliance/server/daemon.h).
#include <string>
#include <utility>
#include <vector>

#include "appliance/cli/main.h"
#include "appliance/server/daemon.h"

namespace {

int run_daemon(const custos::cli::ServeOptions& serve) {
  custos::server::DaemonOptions options;
  options.directory = serve.directory;
  options.token = serve.token;
  options.listen = serve.listen;
  options.plain_listen = serve.plain_listen;
  return custos::server::run_daemon(options);
}

}  // namespace

int main(int argc, char** argv) {
  // custosd --version and --help are custos's own.
  if (argc == 2 && (std::string(argv[1]) == "--version")) return custos::cli::run(argc, argv, run_daemon);
  std::vector<char*> arguments(argv, argv + argc);
  // `custos serve …` hands over its arguments as they are; custosd's own
  // become `serve` with them, --dir (wherever it is given, as --dir DIR or
  // --dir=DIR) moved before the command, where it belongs.
  bool has_serve = false;
  for (int index = 1; index < argc; ++index) has_serve = has_serve || std::string(argv[index]) == "serve";
  if (!has_serve) {
    static char serve[] = "serve";
    std::vector<char*> global{argv[0]};
    std::vector<char*> rest{serve};
    for (int index = 1; index < argc; ++index) {
      const std::string argument = argv[index];
      if (argument == "--dir" && index + 1 < argc) {
        global.push_back(argv[index]);
        global.push_back(argv[++index]);
      } else if (argument.starts_with("--dir=")) {
        global.push_back(argv[index]);
      } else {
        rest.push_back(argv[index]);
      }
    }
    arguments = std::move(global);
    arguments.insert(arguments.end(), rest.begin(), rest.end());
  }
  return custos::cli::run(static_cast<int>(arguments.size()), arguments.data(), run_daemon);
}
