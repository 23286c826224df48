// custosd's reusable OCSP answers, kept in the front end as well: a relying
// party that sends the same request bytes again (RFC 5019 clients send no
// nonce) is answered without a call to custosd, which is most of what an
// answer costs once it is signed.
//
// Only what custosd's status lane says it keeps is kept here (an answer
// with "reuse_until"), and no longer than the lane keeps it. Every kept
// answer belongs to the status epoch read before custosd was asked
// (status_epoch.h); when the epoch moves — a revocation, its undoing, a
// new CRL or OCSP signer, a reload — everything kept is dropped, and an
// answer asked for under an older epoch is not kept. The bytes kept (each
// entry's bookkeeping counted) are bounded; at the bound everything is
// dropped rather than grow, as the lane does.
//
//   KeptOcspAnswers kept(epoch_reader);
//   if (auto answer = kept.find(request_der, std::time(nullptr))) … serve it
//   std::uint64_t asked_in = kept.epoch();   // then ask custosd
//   kept.keep(request_der, answer, reuse_until, asked_in);
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "appliance/operations/status_epoch.h"

namespace custos::server {

class KeptOcspAnswers {
 public:
  struct Answer {
    std::string body;  // the DER OCSPResponse
    std::time_t this_update = 0;
    std::time_t next_update = 0;
    std::string etag;  // a quoted strong ETag of the body
  };

  // As much as custosd's status lane keeps (status_responder.h).
  static constexpr std::size_t kDefaultMaxBytes = 8 * 1024 * 1024;

  explicit KeptOcspAnswers(const operations::StatusEpochReader& epoch, std::size_t max_bytes = kDefaultMaxBytes)
      : epoch_(epoch), max_bytes_(max_bytes) {}

  // The epoch now: read it before asking custosd, and pass it to keep().
  std::uint64_t epoch() const noexcept { return epoch_.current(); }
  // The answer kept for these request bytes, if it is still to be given at `now`.
  std::shared_ptr<const Answer> find(const std::string& request, std::time_t now);
  // Keeps `answer` for these request bytes until `reuse_until`, unless the
  // epoch has moved since `asked_in`.
  void keep(const std::string& request, std::shared_ptr<const Answer> answer, std::time_t reuse_until,
            std::uint64_t asked_in);

 private:
  struct Entry {
    std::shared_ptr<const Answer> answer;
    std::time_t reuse_until;
  };
  // Under mutex_: drops everything kept under an older epoch; returns the epoch now.
  std::uint64_t forget_the_stale();
  void forget(std::unordered_map<std::string, Entry>::iterator entry);

  const operations::StatusEpochReader& epoch_;
  const std::size_t max_bytes_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> answers_;  // by the request's DER
  std::uint64_t kept_in_ = 0;                       // the epoch of everything in answers_
  std::size_t bytes_ = 0;
};

}  // namespace custos::server
