// custosd's side of the HTTP front end: spawns custos-http (beside custosd)
// with a clean environment, its channels to the engine on fds 3…, stdin
// and stdout on /dev/null, stderr shared (the journal), in a process group
// of its own; serves each channel on a thread of its own; stops it with
// SIGTERM, which lets its in-flight requests finish.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "appliance/server/api.h"
#include "common/files.h"

namespace custos::server {

struct FrontEndSpec {
  std::string listen;        // HTTPS HOST:PORT
  std::string plain_listen;  // plain HTTP HOST:PORT for /crl and /ocsp, or empty
  std::filesystem::path certificate;
  std::filesystem::path key;
  std::filesystem::path client_ca;  // the CA chain client certificates must chain to
  std::int64_t max_connections = 64;
  bool require_namespaces = true;
};

class FrontEndProcess {
 public:
  FrontEndProcess(FrontEndSpec spec, Api& api);
  ~FrontEndProcess();
  FrontEndProcess(const FrontEndProcess&) = delete;
  FrontEndProcess& operator=(const FrontEndProcess&) = delete;

  // Reaps the process if it ended; returns true then, with why in `status`.
  bool ended(std::string& status);
  // SIGTERM, then up to `grace` for in-flight requests, then SIGKILL.
  void stop(std::chrono::seconds grace);
  pid_t pid() const { return pid_; }

 private:
  void serve(FileDescriptor channel);

  Api& api_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::vector<std::thread> channels_;
};

}  // namespace custos::server
