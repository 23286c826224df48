// The calls custosd answers, from the CLI on its socket and from the HTTP
// front end: one JSON object per call, {"op", "args"} (plus "caller" from
// the front end), answered {"ok": true, "result"} or {"ok": false,
// "error": one line, "kind", "role"}. The set is closed: an unknown op or
// argument is refused. Every call runs on the one engine, one at a time,
// and its reply is made after the engine's commit — except OCSP and the
// current CRL, which the status lane answers beside it (StatusResponder)
// unless they need a write first.
//
//   Api api(ca, [&] { courier.wake(); });   // the engine rings when the outbox holds something new
//   nlohmann::json answer = api.handle({{"op", "retrieve"}, {"args", {{"id", 7}}}}, peer_uid);
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "appliance/engine/authority.h"
#include "appliance/engine/engine.h"
#include "appliance/engine/status_responder.h"
#include "appliance/operations/operations.h"
#include "appliance/server/access.h"

namespace custos::server {

// The arguments of one call, checked against its row of the operation table.
class Arguments;

class Api {
 public:
  // The engine it makes (and makes again on reload) tells `publisher` when
  // the outbox holds something new.
  Api(engine::CertificateAuthority& ca, engine::Publisher publisher);

  // `local_uid` is the socket peer's uid (SO_PEERCRED) for a call on the
  // local socket; a call from the front end carries its "caller".
  nlohmann::json handle(const nlohmann::json& call, std::optional<uid_t> local_uid);

  // Runs `work` on the engine, one caller at a time (the outbox delivery,
  // a reload).
  void with_engine(const std::function<void(engine::Engine&)>& work);
  // SIGHUP: reads custos.toml again and starts a new engine (new policy
  // and exit module hosts) between two calls.
  void reload();

 private:
  // The status lane's answer to `op`, or nullopt when the engine must give it.
  std::optional<nlohmann::json> answer_beside_the_engine(operations::Op op, const Arguments& args);
  nlohmann::json dispatch(operations::Op op, const Arguments& args, const Caller& caller);
  nlohmann::json submit(const Arguments& args, const Caller& caller);
  nlohmann::json enroll(const Arguments& args, const Caller& caller);
  nlohmann::json retrieve(const Arguments& args, const Caller& caller);
  nlohmann::json current_crl();
  nlohmann::json ca_certs();
  nlohmann::json ocsp(const Arguments& args);
  nlohmann::json backup(const Arguments& args, const Caller& caller);
  nlohmann::json audit_verify(const Arguments& args);
  static nlohmann::json whoami(const Caller& caller);

  engine::CertificateAuthority& ca_;
  engine::Publisher publisher_;
  std::mutex mutex_;  // the engine's: one call at a time
  std::unique_ptr<engine::Engine> engine_;
  // Shared so that a caller is authenticated outside the engine's lock (an
  // Argon2 check takes tens of milliseconds); a reload swaps it.
  std::shared_ptr<Access> access_;
  // Made again with each engine, and after the engine answered what the
  // lane could not (a new CRL, a new OCSP signer): under mutex_, swapped
  // under status_mutex_, which the lane's callers take (never mutex_).
  void renew_status_lane();
  std::mutex status_mutex_;
  std::shared_ptr<engine::StatusResponder> status_;
};

}  // namespace custos::server
