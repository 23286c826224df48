// The front end's way to the engine: a few socketpairs inherited from
// custosd, each carrying one call at a time in the frames of
// modules/protocol (a 4-byte length, at most 1 MiB of JSON). A call takes a
// free channel, waits for its answer and gives the channel back. Callers
// get channels in the order they asked: a channel given back goes to the
// longest waiting caller, never to one that came later.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"

namespace custos::server {

// One call to the engine: {"op", "caller", "args"} → the engine's answer,
// {"ok": true, "result"} or {"ok": false, "error", "kind", "role"?} (api.h).
// Thread-safe; throws custos::Error when the engine is gone or too slow.
class EngineLink {
 public:
  virtual ~EngineLink() = default;
  virtual nlohmann::json call(const nlohmann::json& request) = 0;
};

class ChannelPool : public EngineLink {
 public:
  explicit ChannelPool(std::vector<FileDescriptor> channels);
  nlohmann::json call(const nlohmann::json& request) override;
  // Callers now waiting for a channel.
  std::size_t callers_waiting();

 private:
  // A caller waiting for a channel; `granted` is set by the call that gave
  // one back. One wake-up per waiter, so that a channel given back wakes
  // only the caller it goes to.
  struct Waiter {
    std::condition_variable wake;
    std::optional<std::size_t> granted;
  };
  std::size_t take_channel();
  void give_back(std::size_t index);

  std::mutex mutex_;
  std::vector<FileDescriptor> channels_;
  std::vector<std::size_t> idle_;  // indices into channels_
  std::deque<Waiter*> waiting_;    // oldest first
  int usable_ = 0;
};

// The status lane's calls (OCSP, the current CRL) on channels of their own,
// every other call on the rest: custosd answers the lane beside the engine,
// so a relying party must not queue for a channel behind issuance either.
class LaneSplit : public EngineLink {
 public:
  LaneSplit(EngineLink& engine, EngineLink& status) : engine_(engine), status_(status) {}
  nlohmann::json call(const nlohmann::json& request) override;

 private:
  EngineLink& engine_;
  EngineLink& status_;
};

}  // namespace custos::server
