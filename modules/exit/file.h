// builtin:file — publishes each issued certificate as <dir>/<serial>.pem
// and each CRL as <dir>/<ca>.crl (DER), written atomically (temporary file,
// fsync, rename). hello.config: {"dir": ABSOLUTE PATH, "ca": CA NAME}; the
// engine resolves [[exit]] dir against the CA directory and adds the CA's
// name. The sandbox makes `dir` the one place the module can write.
#pragma once

#include <filesystem>
#include <string>

#include "modules/exit/exit_module.h"

namespace custos::exit {

class FileExit final : public ExitModule {
 public:
  protocol::HelloAnswer hello(const protocol::Hello& hello) override;
  void notify(const protocol::Notify& event) override;

 private:
  std::filesystem::path directory_;
  std::string crl_name_;
};

}  // namespace custos::exit
