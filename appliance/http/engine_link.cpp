#include "appliance/http/engine_link.h"

#include <chrono>
#include <string>

#include "modules/protocol/frame.h"

namespace custos::server {
namespace {

// The engine answers one call at a time; a call may wait behind others and
// a policy module's deadline.
constexpr auto kCallTimeout = std::chrono::seconds(120);

}  // namespace

ChannelPool::ChannelPool(std::vector<FileDescriptor> channels)
    : channels_(std::move(channels)), usable_(static_cast<int>(channels_.size())) {
  for (std::size_t index = 0; index < channels_.size(); ++index) idle_.push_back(index);
}

nlohmann::json ChannelPool::call(const nlohmann::json& request) {
  std::size_t index = 0;
  {
    std::unique_lock lock(mutex_);
    if (!available_.wait_for(lock, kCallTimeout, [&] { return !idle_.empty() || usable_ == 0; }) || usable_ == 0) {
      throw Error(usable_ == 0 ? "the engine is gone" : "the engine is busy; try again");
    }
    index = idle_.back();
    idle_.pop_back();
  }
  int channel = channels_[index].get();
  try {
    protocol::Deadline deadline = protocol::Clock::now() + kCallTimeout;
    protocol::write_frame(channel, request, deadline);
    nlohmann::json answer = protocol::read_frame(channel, deadline);
    std::lock_guard lock(mutex_);
    idle_.push_back(index);
    available_.notify_one();
    return answer;
  } catch (const protocol::FrameError& error) {
    // A channel out of step (a late answer would be read as the next
    // call's) is never used again.
    std::lock_guard lock(mutex_);
    channels_[index].reset();
    --usable_;
    available_.notify_all();
    throw Error(std::string("the engine did not answer: ") + error.what());
  }
}

nlohmann::json LaneSplit::call(const nlohmann::json& request) {
  // The op names of the lane (appliance/operations, which this side of the
  // boundary does not see).
  const std::string op = request.value("op", "");
  return op == "ocsp" || op == "current_crl" ? status_.call(request) : engine_.call(request);
}

}  // namespace custos::server
