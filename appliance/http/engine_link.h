// The front end's way to the engine: a few socketpairs inherited from
// custosd, each carrying one call at a time in the frames of
// modules/protocol (a 4-byte length, at most 1 MiB of JSON). A call takes a
// free channel, waits for its answer and gives the channel back.
#pragma once

#include <condition_variable>
#include <mutex>
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

 private:
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<FileDescriptor> channels_;
  std::vector<std::size_t> idle_;  // indices into channels_
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
