#include "appliance/http/kept_answers.h"

namespace custos::server {
namespace {

// An entry's share of the map and its allocations, beside the bytes it holds.
constexpr std::size_t kEntryBookkeepingBytes = 160;

std::size_t bytes_of(const std::string& request, const KeptOcspAnswers::Answer& answer) {
  return request.size() + answer.body.size() + answer.etag.size() + kEntryBookkeepingBytes;
}

}  // namespace

std::uint64_t KeptOcspAnswers::forget_the_stale() {
  std::uint64_t now = epoch_.current();
  if (now != kept_in_) {
    answers_.clear();
    bytes_ = 0;
    kept_in_ = now;
  }
  return now;
}

void KeptOcspAnswers::forget(std::unordered_map<std::string, Entry>::iterator entry) {
  bytes_ -= bytes_of(entry->first, *entry->second.answer);
  answers_.erase(entry);
}

std::shared_ptr<const KeptOcspAnswers::Answer> KeptOcspAnswers::find(const std::string& request, std::time_t now) {
  std::lock_guard lock(mutex_);
  forget_the_stale();
  auto kept = answers_.find(request);
  if (kept == answers_.end()) return nullptr;
  if (now >= kept->second.reuse_until) {
    forget(kept);
    return nullptr;
  }
  return kept->second.answer;
}

void KeptOcspAnswers::keep(const std::string& request, std::shared_ptr<const Answer> answer, std::time_t reuse_until,
                           std::uint64_t asked_in) {
  std::size_t bytes = bytes_of(request, *answer);
  std::lock_guard lock(mutex_);
  if (forget_the_stale() != asked_in || bytes > max_bytes_) return;
  if (bytes_ + bytes > max_bytes_) {
    answers_.clear();
    bytes_ = 0;
  }
  // Two connections that missed the same request both asked; the first answer kept stays.
  if (answers_.try_emplace(request, Entry{std::move(answer), reuse_until}).second) bytes_ += bytes;
}

}  // namespace custos::server
