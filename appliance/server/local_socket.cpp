#include "appliance/server/local_socket.h"

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "appliance/operations/daemon_client.h"
#include "modules/protocol/frame.h"

namespace custos::server {
namespace {

constexpr int kMaxConnections = 64;
// How long a connection may take to send a call it has begun.
constexpr auto kFrameTimeout = std::chrono::seconds(10);

gid_t group_id(const std::string& group) {
  if (!group.empty() && std::all_of(group.begin(), group.end(), [](char c) { return std::isdigit(c) != 0; })) {
    return static_cast<gid_t>(std::stoul(group));
  }
  struct group* entry = ::getgrnam(group.c_str());
  if (entry == nullptr) throw Error("[server] socket_group: there is no group '" + group + "'");
  return entry->gr_gid;
}

}  // namespace

LocalListener::LocalListener(const std::filesystem::path& directory, const std::string& group, Handler handler)
    : path_(operations::socket_path(directory)), handler_(std::move(handler)) {
  if (std::filesystem::exists(std::filesystem::symlink_status(path_))) {
    if (operations::connect_unix(path_)) {
      throw Error("another custosd already serves " + directory.string() + " (" + path_.string() + " answers)");
    }
    std::filesystem::remove(path_);
  }
  sockaddr_un address = operations::unix_address(path_);
  // Looked up before anything is made: an unknown group leaves nothing behind.
  std::optional<gid_t> gid;
  if (!group.empty()) gid = group_id(group);
  listener_ = FileDescriptor(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener_.get() < 0) throw Error(std::string("socket: ") + std::strerror(errno));
  // Created with no access at all, then opened to owner and group: no
  // moment where others could connect.
  mode_t previous = ::umask(0777);
  int bound = ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  int bind_errno = errno;
  ::umask(previous);
  if (bound != 0) throw Error("binding " + path_.string() + ": " + std::strerror(bind_errno));
  // From here a failure also takes the socket file away (the descriptor
  // closes itself).
  auto refuse = [&](const std::string& what, int error) {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    throw Error(what + ": " + std::strerror(error));
  };
  if (gid && ::chown(path_.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    refuse("giving " + path_.string() + " to group " + group, errno);
  }
  if (::chmod(path_.c_str(), 0660) != 0 || ::listen(listener_.get(), 64) != 0) {
    refuse("listening on " + path_.string(), errno);
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

LocalListener::~LocalListener() { stop(); }

void LocalListener::stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listener_.get(), SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  listener_ = FileDescriptor();
  std::filesystem::remove(path_);
  std::lock_guard lock(mutex_);
  for (Connection& connection : connections_) connection.thread.join();
  connections_.clear();
}

void LocalListener::accept_loop() {
  while (!stopping_) {
    pollfd entry{listener_.get(), POLLIN, 0};
    if (::poll(&entry, 1, 200) <= 0) continue;
    FileDescriptor connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection) continue;
    if (open_connections_ >= kMaxConnections) {
      spdlog::warn("local socket: {} connections are open already; refusing another", kMaxConnections);
      continue;
    }
    ++open_connections_;
    std::lock_guard lock(mutex_);
    std::erase_if(connections_, [](Connection& done) {
      if (!*done.finished) return false;
      done.thread.join();
      return true;
    });
    auto finished = std::make_shared<std::atomic<bool>>(false);
    connections_.push_back({std::thread([this, connection = std::move(connection), finished]() mutable {
                              serve(connection.get());
                              connection.reset();
                              --open_connections_;
                              *finished = true;
                            }),
                            finished});
  }
}

void LocalListener::serve(int connection) {
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return;
  while (!stopping_) {
    pollfd entry{connection, POLLIN, 0};
    int ready = ::poll(&entry, 1, 200);
    if (ready == 0) continue;
    if (ready < 0) return;
    nlohmann::json answer;
    try {
      nlohmann::json call = protocol::read_frame(connection, protocol::Clock::now() + kFrameTimeout);
      answer = handler_(call, peer.uid);
    } catch (const protocol::FrameError& error) {
      if (error.kind() != protocol::FrameError::Kind::kClosed) {
        spdlog::warn("local socket: uid {}: {}", peer.uid, error.what());
      }
      return;
    }
    try {
      protocol::write_frame(connection, answer, protocol::Clock::now() + kFrameTimeout);
    } catch (const protocol::FrameError& error) {
      spdlog::warn("local socket: uid {}: the answer was not delivered: {}", peer.uid, error.what());
      return;
    }
  }
}

}  // namespace custos::server
