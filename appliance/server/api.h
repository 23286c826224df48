// The calls custosd answers, from the CLI on its socket and from the HTTP
// front end: one JSON object per call, {"op", "args"} (plus "caller" from
// the front end), answered {"ok": true, "result"} or {"ok": false,
// "error": one line, "kind", "role"}. The set is closed: an unknown op or
// argument is refused. custosd runs a few engines, two per core, each on a
// store connection and policy module host of its own: the calls that only
// add requests or read (submit, enroll, retrieve, show, list) each take an
// idle engine, so several are in flight at once; every other call (the
// administration, a reload) takes the first engine while no other is in
// use. A reply is made after the engine's commit. OCSP and the current CRL
// are answered beside the engines (StatusResponder) unless they need a
// write first.
//
//   Api api(ca, [&] { courier.wake(); });   // the engine rings when the outbox holds something new
//   nlohmann::json answer = api.handle({{"op", "retrieve"}, {"args", {{"id", 7}}}}, peer_uid);
#pragma once

#include <condition_variable>
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
#include "appliance/operations/status_epoch.h"
#include "appliance/server/access.h"

namespace custos::server {

// The arguments of one call, checked against its row of the operation table.
class Arguments;

class Api {
 public:
  // The engine it makes (and makes again on reload) tells `publisher` when
  // the outbox holds something new.
  Api(engine::CertificateAuthority& ca, engine::Publisher publisher);
  ~Api();

  // `local_uid` is the socket peer's uid (SO_PEERCRED) for a call on the
  // local socket; a call from the front end carries its "caller".
  nlohmann::json handle(const nlohmann::json& call, std::optional<uid_t> local_uid);

  // Runs `work` on the first engine while no other is in use (the audit
  // checkpoint, the TLS identity at start).
  void with_engine(const std::function<void(engine::Engine&)>& work);
  // Runs `work` on the first engine, beside calls on the others: the
  // outbox delivery, which must not stop issuance while exit modules work.
  void with_delivery_engine(const std::function<void(engine::Engine&)>& work);
  // SIGHUP: reads custos.toml again and starts a new engine (new policy
  // and exit module hosts) between two calls.
  void reload();

  // The page whose counter moves each time the status lane is made again
  // (status_epoch.h), for the front end to inherit; none where the kernel
  // could not make it (the front end then keeps no OCSP answer).
  std::optional<int> status_epoch_descriptor() const;

 private:
  // The status lane's answer to `op`, or nullopt when the engine must give it.
  std::optional<nlohmann::json> answer_beside_the_engine(operations::Op op, const Arguments& args);
  nlohmann::json dispatch(engine::Engine& engine, operations::Op op, const Arguments& args, const Caller& caller);
  nlohmann::json submit(engine::Engine& engine, const Arguments& args, const Caller& caller);
  nlohmann::json enroll(engine::Engine& engine, const Arguments& args, const Caller& caller);
  nlohmann::json retrieve(engine::Engine& engine, const Arguments& args, const Caller& caller);
  nlohmann::json ca_certs();
  nlohmann::json backup(engine::Engine& engine, const Arguments& args, const Caller& caller);
  static nlohmann::json whoami(const Caller& caller);

  class EnginePool;
  class Lease;
  // The engines for a new configuration: the first on the CA's own store
  // connection, the others on connections of their own.
  std::vector<std::unique_ptr<engine::Engine>> make_engines();

  engine::CertificateAuthority& ca_;
  engine::Publisher publisher_;
  std::unique_ptr<EnginePool> engines_;
  // Shared so that a caller is authenticated outside any engine (an Argon2
  // check takes tens of milliseconds); a reload swaps it, holding every
  // engine, under access_mutex_.
  std::mutex access_mutex_;
  std::shared_ptr<Access> access_;
  // Made again with each first engine, and after it answered what the lane
  // could not (a new CRL, a new OCSP signer): while no other engine is in
  // use, swapped under status_mutex_, which the lane's callers take.
  void renew_status_lane(const engine::Engine& first);
  // renew_status_lane, or, when that fails, no lane at all.
  void renew_status_lane_or_close_it(const engine::Engine& first) noexcept;
  // Swaps in `lane` (or none) and then moves the status epoch, so that the
  // front end drops what it kept from the old lane.
  void install_status_lane(std::shared_ptr<engine::StatusResponder> lane) noexcept;
  std::mutex status_mutex_;
  std::shared_ptr<engine::StatusResponder> status_;
  std::optional<operations::StatusEpochWriter> status_epoch_;
};

}  // namespace custos::server
