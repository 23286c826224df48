// custosd's local socket: custosd.sock in the CA directory, mode 0660,
// speaking the module protocol's frames (a 4-byte length, at most 1 MiB of
// one JSON object) with the calls of api.h. The peer's uid, from
// SO_PEERCRED, is who is asking.
//
//   LocalListener listener(directory, group, [&](auto& call, uid_t uid) { return api.handle(call, uid); });
//   …
//   listener.stop();   // refuses new connections, lets each finish its call
//
//
// The client's side is appliance/operations/daemon_client.h.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"

namespace custos::server {


class LocalListener {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& call, uid_t peer)>;

  // Binds the socket (replacing one left by a custosd that died; refusing
  // when another custosd answers on it) and starts accepting.
  LocalListener(const std::filesystem::path& directory, const std::string& group, Handler handler);
  ~LocalListener();
  LocalListener(const LocalListener&) = delete;
  LocalListener& operator=(const LocalListener&) = delete;

  // Stops accepting, lets every connection finish the call it is in, and
  // removes the socket file.
  void stop();

 private:
  void accept_loop();
  void serve(int connection);

  std::filesystem::path path_;
  Handler handler_;
  FileDescriptor listener_;
  std::atomic<bool> stopping_{false};
  // One thread a connection; a finished one is joined when the next
  // connection arrives, so a long-running daemon does not keep them.
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::mutex mutex_;
  std::list<Connection> connections_;
  std::atomic<int> open_connections_{0};
  std::thread acceptor_;
};

}  // namespace custos::server
