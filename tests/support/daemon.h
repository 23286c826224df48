// custosd started for one test: on a CA directory made by the test, with
// the test's SoftHSM token and PIN file, HTTPS and plain HTTP on free ports
// of 127.0.0.1, its log in the work directory. Stopped with SIGTERM.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "tests/support/cli.h"

namespace custos::testing {

// A port on 127.0.0.1 nothing listens on at the moment of asking.
int free_port();

class Daemon {
 public:
  // Starts custosd and waits until its socket and both ports answer.
  // Started as custosd; with `as_custos_serve`, as `custos serve`, which
  // hands over to the custosd beside it.
  enum class Start { kCustosd, kCustosServe };
  Daemon(const CliFixture& cli, const std::filesystem::path& directory, Start how = Start::kCustosd);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  int https_port() const { return https_port_; }
  int http_port() const { return http_port_; }
  std::string https_url() const { return "https://127.0.0.1:" + std::to_string(https_port_); }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  pid_t pid() const { return pid_; }
  const std::filesystem::path& log() const { return log_; }

  void signal(int number) const;
  // SIGTERM, then waits for the exit; returns the exit status (or 128 +
  // the signal), -1 when it did not stop within `seconds`.
  int stop(int seconds = 60);
  // The daemon's resident memory, kB.
  long resident_kb() const;

 private:
  // One start on the chosen ports; false when custosd could not listen on them.
  bool start(const std::filesystem::path& directory, const std::filesystem::path& pin_file, Start how);

  pid_t pid_ = -1;
  int https_port_ = 0;
  int http_port_ = 0;
  std::filesystem::path log_;
};

}  // namespace custos::testing
