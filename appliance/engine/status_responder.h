// OCSP answers and the current CRL without the engine's lock: custosd's
// status lane, so that relying parties are not kept waiting behind
// issuance on a slow token (a TPM signs a few hundred times a second).
//
// It reads through a store connection of its own, which sees committed
// state only, and signs on the token, whose session pool serves several
// threads. What needs a write first — a CRL past its nextUpdate, an OCSP
// signer to make or renew — it leaves to the engine (nullopt), and the
// caller makes a new responder after the engine has answered.
//
// An answer to a request without a nonce, about certificates this CA
// issued, is kept and given again to the same request bytes until half its
// validity has run (RFC 5019 §6: responses may be produced ahead); then it
// is signed afresh. A request with a nonce is always signed anew. What
// changes a certificate's status (a revocation, its undoing) goes through
// the engine, and custosd then makes a new responder, so no kept answer
// outlives the change. custosd's front end keeps what the lane keeps
// (reuse_until) and drops it when custosd moves the status epoch.
//
//   auto lane = std::make_shared<StatusResponder>(ca, engine);   // under the engine's lock
//   if (auto answer = lane->answer_ocsp(request, this_update, next_update, reuse_until)) …
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "appliance/engine/engine.h"

namespace custos::engine {

class StatusResponder {
 public:
  // Made while the engine is not in use (custosd holds its lock): it takes
  // a copy of the configuration and of the engine's settled OCSP signer.
  StatusResponder(CertificateAuthority& ca, const Engine& engine);

  // `reuse_until` is when a kept answer is signed afresh, or 0 when the
  // answer was signed for this request alone (a nonce, an unknown serial).
  std::optional<std::vector<std::uint8_t>> answer_ocsp(std::span<const std::uint8_t> request, std::time_t& this_update,
                                                       std::time_t& next_update, std::time_t& reuse_until);
  // CRL `number`, or the newest when none is named. Nothing when there is
  // no such CRL, or when the newest is past its nextUpdate (the engine
  // publishes one). The last one read is kept, so that its parts and the
  // next relying party cost no read of the store.
  std::shared_ptr<const storage::CrlRecord> crl(std::optional<std::int64_t> number);

 private:
  hsm::Token& token_;
  const CaConfig config_;
  ossl::Ptr<X509> ca_certificate_;
  std::optional<OcspSigner> signer_;
  std::mutex reader_mutex_;  // one thread at a time on the connection
  std::unique_ptr<storage::Store> reader_;
  std::shared_ptr<const storage::CrlRecord> kept_crl_;  // under reader_mutex_

  struct KeptAnswer {
    std::vector<std::uint8_t> response;
    std::time_t this_update = 0;
    std::time_t next_update = 0;
    std::time_t reuse_until = 0;
  };
  static constexpr std::size_t kMaxKeptAnswerBytes = 8 * 1024 * 1024;
  std::mutex answers_mutex_;
  std::unordered_map<std::string, KeptAnswer> answers_;  // by the request's DER
  std::size_t answers_bytes_ = 0;
};

}  // namespace custos::engine
