// custosd: the engine as a daemon (ARCHITECTURE.md, Processes). It opens the CA
// once — token session pool, store, module hosts — and answers the CLI on
// custosd.sock and the HTTP front end, a process of its own that holds no
// token and no database key, over socketpairs.
//
// Signals: SIGTERM or SIGINT drains (no new connections; in-flight calls
// and HTTP requests finish; the outbox is delivered; exit modules get
// `shutdown`; the token is closed). SIGHUP reloads custos.toml's profiles,
// modules and roles. Under systemd it tells READY=1, RELOADING=1 and
// STOPPING=1 through sd_notify.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "appliance/engine/authority.h"

namespace custos::server {

struct DaemonOptions {
  std::filesystem::path directory;
  engine::TokenOptions token;
  std::optional<std::string> listen;        // HTTPS HOST:PORT; [http] listen when unset; "off" for none
  std::optional<std::string> plain_listen;  // plain HTTP HOST:PORT; [http] plain_listen when unset
};

// Runs until SIGTERM or SIGINT; returns the exit status. Throws
// custos::Error when it cannot start.
int run_daemon(const DaemonOptions& options);

}  // namespace custos::server
