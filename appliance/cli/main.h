// The custos command line, shared by the `custos` binary and `custosd`
// (which is `custos serve`).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "appliance/engine/authority.h"

namespace custos::cli {

// What `serve` was given: the CA directory, the token options and the
// listen addresses.
struct ServeOptions {
  std::filesystem::path directory;
  engine::TokenOptions token;
  std::optional<std::string> listen;        // HTTPS HOST:PORT; [http] listen when unset; "off" for none
  std::optional<std::string> plain_listen;  // plain HTTP HOST:PORT; [http] plain_listen when unset
};

// What `serve` does, which the binary decides: custosd runs the daemon in
// its own process; custos hands over to the custosd beside it, so that the
// command line does not carry the daemon's code. Returns the exit status.
using ServeFunction = std::function<int(const ServeOptions& options)>;

// Parses argv and runs the command; returns the exit status (README:
// 0 success, 1 runtime error, 2 usage error).
int run(int argc, char** argv, const ServeFunction& serve);

}  // namespace custos::cli
