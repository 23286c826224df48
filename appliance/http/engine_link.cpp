#include "appliance/http/engine_link.h"

#include <chrono>
#include <string>
#include <vector>

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

std::size_t ChannelPool::take_channel() {
  std::unique_lock lock(mutex_);
  if (usable_ == 0) throw Error("the engine is gone");
  // Wait behind those already waiting, even with a channel idle: it is
  // theirs. (Under load, a caller that just gave one back would otherwise
  // take it again ahead of callers woken for it: their waits, not the
  // engine, made the slowest answers.)
  if (waiting_.empty() && !idle_.empty()) {
    std::size_t index = idle_.back();
    idle_.pop_back();
    return index;
  }
  Waiter me;
  waiting_.push_back(&me);
  bool woken = me.wake.wait_for(lock, kCallTimeout, [&] { return me.granted.has_value() || usable_ == 0; });
  if (me.granted) return *me.granted;
  std::erase(waiting_, &me);
  throw Error(woken ? "the engine is gone" : "the engine is busy; try again");
}

void ChannelPool::give_back(std::size_t index) {
  std::lock_guard lock(mutex_);
  if (waiting_.empty()) {
    idle_.push_back(index);
    return;
  }
  Waiter* oldest = waiting_.front();
  waiting_.pop_front();
  oldest->granted = index;
  oldest->wake.notify_one();
}

std::size_t ChannelPool::callers_waiting() {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

nlohmann::json ChannelPool::call(const nlohmann::json& request) {
  std::size_t index = take_channel();
  int channel = channels_[index].get();
  try {
    protocol::Deadline deadline = protocol::Clock::now() + kCallTimeout;
    protocol::write_frame(channel, request, deadline);
    nlohmann::json answer = protocol::read_frame(channel, deadline);
    give_back(index);
    return answer;
  } catch (const protocol::FrameError& error) {
    // A channel out of step (a late answer would be read as the next
    // call's) is never used again.
    std::lock_guard lock(mutex_);
    channels_[index].reset();
    if (--usable_ == 0) {
      for (Waiter* waiter : waiting_) waiter->wake.notify_one();
    }
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
