// The client's side of custosd's local socket (custosd.sock in the CA
// directory): frames of the module protocol carrying one call of the
// operation table and its answer.
//
//   if (auto daemon = DaemonConnection::connect(directory)) daemon->call(Op::kRetrieve, {{"id", 7}});
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "appliance/operations/operations.h"
#include "common/error.h"
#include "common/files.h"

namespace custos::operations {

std::filesystem::path socket_path(const std::filesystem::path& directory);

// The address of the Unix socket at `path`; throws custos::Error when the
// path is too long for one.
sockaddr_un unix_address(const std::filesystem::path& path);

// A socket connected to `path`, or an empty descriptor with errno set.
FileDescriptor connect_unix(const std::filesystem::path& path);

// A custosd's answer of failure, with its kind: the CLI maps it to an exit
// status, as the front end maps it to an HTTP status.
class CallFailed : public Error {
 public:
  CUSTOS_ERROR_TYPE(CallFailed)
  CallFailed(FailureKind kind, const std::string& message) : Error(message), kind_(kind) {}
  FailureKind kind() const { return kind_; }

 private:
  FailureKind kind_;
};

class DaemonConnection {
 public:
  // Nothing when no custosd serves `directory` (no socket, or one left by a
  // custosd that is gone); throws custos::Error when one does but cannot be
  // reached (permissions).
  static std::optional<DaemonConnection> connect(const std::filesystem::path& directory);

  // Checks `args` against the table, makes the call and returns its
  // result. A refusal throws UsageError for kind usage, else CallFailed;
  // a broken connection throws custos::Error.
  nlohmann::json call(Op op, const nlohmann::json& args = nlohmann::json::object());

 private:
  explicit DaemonConnection(FileDescriptor socket) : socket_(std::move(socket)) {}
  FileDescriptor socket_;
};

}  // namespace custos::operations
