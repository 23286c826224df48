#include "appliance/operations/daemon_client.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "modules/protocol/frame.h"

namespace custos::operations {
namespace {

// custosd answers a call when the engine is free; an issuance waits for the
// token and the policy module, a backup for the copy.
constexpr auto kCallTimeout = std::chrono::minutes(5);
constexpr auto kFrameTimeout = std::chrono::seconds(10);

}  // namespace

std::filesystem::path socket_path(const std::filesystem::path& directory) { return directory / "custosd.sock"; }

sockaddr_un unix_address(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof address.sun_path) {
    throw Error("the socket path " + path.string() + " is too long for a Unix socket; use a shorter CA directory");
  }
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  return address;
}

FileDescriptor connect_unix(const std::filesystem::path& path) {
  sockaddr_un address = unix_address(path);
  FileDescriptor socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) throw Error(std::string("socket: ") + std::strerror(errno));
  if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    socket.reset();
  }
  return socket;
}

std::optional<DaemonConnection> DaemonConnection::connect(const std::filesystem::path& directory) {
  std::filesystem::path path = socket_path(directory);
  if (!std::filesystem::exists(std::filesystem::symlink_status(path))) return std::nullopt;
  FileDescriptor socket = connect_unix(path);
  if (socket) return DaemonConnection(std::move(socket));
  if (errno == ECONNREFUSED || errno == ENOENT) return std::nullopt;  // left by a custosd that is gone
  throw Error("custosd serves " + directory.string() + " but " + path.string() + " cannot be reached: " +
              std::strerror(errno));
}

nlohmann::json DaemonConnection::call(Op op, const nlohmann::json& args) {
  const Operation& row = operation(op);
  check_arguments(row, args);
  nlohmann::json answer;
  try {
    protocol::write_frame(socket_.get(), {{"op", row.name}, {"args", args}}, protocol::Clock::now() + kFrameTimeout);
    answer = protocol::read_frame(socket_.get(), protocol::Clock::now() + kCallTimeout);
  } catch (const protocol::FrameError& error) {
    throw Error(std::string("talking to custosd: ") + error.what());
  }
  if (answer.value("ok", false)) return answer.value("result", nlohmann::json());
  std::string message = answer.value("error", "custosd refused the call");
  FailureKind kind = parse_failure_kind(answer.value("kind", ""));
  if (kind == FailureKind::kUsage) throw UsageError(message);
  throw CallFailed(kind, message);
}

}  // namespace custos::operations
