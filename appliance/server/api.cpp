#include "appliance/server/api.h"

#include <algorithm>
#include <span>
#include <thread>

#include <spdlog/spdlog.h>

#include "appliance/x509/crl.h"
#include "appliance/x509/csr.h"
#include "appliance/x509/pem.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "appliance/engine/wire_form.h"
#include "modules/protocol/frame.h"
#include "storage/store.h"

namespace custos::server {

// The arguments of one call, after operations::check_arguments has checked
// each against the operation's row: read here by name, with their types.
class Arguments {
 public:
  explicit Arguments(const nlohmann::json& args) : args_(args) {}
  bool has(const std::string& name) const { return args_.contains(name); }
  std::string text(const std::string& name) const { return args_.at(name).get<std::string>(); }
  std::string text_or(const std::string& name, const std::string& fallback) const {
    return has(name) ? text(name) : fallback;
  }
  std::int64_t number(const std::string& name) const { return args_.at(name).get<std::int64_t>(); }
  std::vector<std::string> texts(const std::string& name) const { return args_.at(name).get<std::vector<std::string>>(); }
  bool flag_or(const std::string& name, bool fallback) const { return has(name) ? args_.at(name).get<bool>() : fallback; }
  std::vector<std::uint8_t> bytes(const std::string& name) const { return from_base64(text(name)); }
  std::map<std::string, std::string> strings_or_empty(const std::string& name) const {
    std::map<std::string, std::string> values;
    if (has(name)) {
      for (const auto& [key, value] : args_.at(name).items()) values[key] = value.get<std::string>();
    }
    return values;
  }

 private:
  const nlohmann::json& args_;
};

namespace {

using engine::Role;
using operations::FailureKind;
using operations::Op;

// What an unauthenticated client may have of `profile`.
bool hold_unauthenticated(const engine::CaConfig& config, const Caller& caller, const std::string& profile_name) {
  if (caller.authenticated) return false;
  const engine::ProfileSection* profile = config.find_profile(profile_name);
  if (profile == nullptr || profile->unauthenticated == "refuse") {
    throw Unauthenticated("profile '" + profile_name +
                          "' takes requests only from authenticated clients: present a client certificate or "
                          "HTTP basic credentials");
  }
  return profile->unauthenticated == "pend";
}

// The part of `crl` at the call's offset (operations::join_crl_parts).
nlohmann::json crl_to_wire(const storage::CrlRecord& crl, const Arguments& args) {
  const std::int64_t offset = args.has("offset") ? args.number("offset") : 0;
  const auto size = static_cast<std::int64_t>(crl.der.size());
  if (offset < 0 || offset >= size) {
    throw UsageError("CRL " + std::to_string(crl.number) + " has " + std::to_string(size) + " bytes; there is no part at offset " +
                     std::to_string(offset));
  }
  auto first = crl.der.begin() + offset;
  auto length = std::min(static_cast<std::int64_t>(protocol::kCrlPartBytes), size - offset);
  return {{"number", crl.number},
          {"der", to_base64(std::span<const std::uint8_t>(first, first + length))},
          {"offset", offset},
          {"size", size},
          {"this_update", parse_rfc3339(crl.this_update)},
          {"next_update", parse_rfc3339(crl.next_update)}};
}

// `reuse_until`, when the lane keeps the answer: until then the same request
// bytes may be given the same answer (the front end keeps it as well).
nlohmann::json ocsp_to_wire(const std::vector<std::uint8_t>& response, std::time_t this_update, std::time_t next_update,
                            std::time_t reuse_until = 0) {
  nlohmann::json wire = {{"response", to_base64(response)}, {"this_update", this_update}, {"next_update", next_update}};
  if (reuse_until != 0) wire["reuse_until"] = reuse_until;
  return wire;
}

}  // namespace

// The engines and who uses them. A call that may run beside others takes
// an idle engine, the last idle one first, so that the first is left for
// the delivery (which wants it alone among the delivery's callers) and for
// the calls that need every engine still. Such a call waits until none is
// in use, and keeps new calls out meanwhile, so a reload is not starved
// under load.
class Api::EnginePool {
 public:
  enum class Use { kAny, kFirst, kAlone };

  explicit EnginePool(std::vector<std::unique_ptr<engine::Engine>> engines)
      : engines_(std::move(engines)), busy_(engines_.size(), false) {}

  std::size_t acquire(Use use) {
    std::unique_lock lock(mutex_);
    if (use == Use::kAlone) {
      ++alone_waiting_;
      changed_.wait(lock, [&] { return !alone_ && std::ranges::none_of(busy_, std::identity()); });
      --alone_waiting_;
      alone_ = true;
      return 0;
    }
    std::size_t index = 0;
    if (use == Use::kFirst) ++first_waiting_;
    changed_.wait(lock, [&] {
      if (alone_ || alone_waiting_ > 0) return false;
      if (use == Use::kFirst) return !busy_[0];
      // The first engine goes to the delivery before any other caller.
      for (std::size_t candidate = busy_.size(); candidate-- > (first_waiting_ > 0 ? 1 : 0);) {
        if (!busy_[candidate]) {
          index = candidate;
          return true;
        }
      }
      return false;
    });
    if (use == Use::kFirst) --first_waiting_;
    busy_[index] = true;
    return index;
  }

  void release(std::size_t index, Use use) {
    {
      std::lock_guard lock(mutex_);
      if (use == Use::kAlone) {
        alone_ = false;
      } else {
        busy_[index] = false;
      }
    }
    changed_.notify_all();
  }

  engine::Engine& engine(std::size_t index) { return *engines_[index]; }
  // Only while holding the pool alone (or before anyone else can use it).
  void replace(std::vector<std::unique_ptr<engine::Engine>> engines) {
    engines_ = std::move(engines);
    busy_.assign(engines_.size(), false);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<engine::Engine>> engines_;
  std::vector<bool> busy_;
  bool alone_ = false;
  int alone_waiting_ = 0;
  int first_waiting_ = 0;
};

// One engine of the pool, held for the lifetime of the lease.
class Api::Lease {
 public:
  Lease(EnginePool& pool, EnginePool::Use use) : pool_(pool), use_(use), index_(pool.acquire(use)) {}
  ~Lease() { pool_.release(index_, use_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  engine::Engine& engine() { return pool_.engine(index_); }

 private:
  EnginePool& pool_;
  EnginePool::Use use_;
  std::size_t index_;
};

namespace {

// Two engines per core, and no more than four (the front end's channels):
// an engine waits, idle, for its commit's fdatasync and for its policy
// module, so with one per core a fifth of the cores stayed idle under
// load (bench/README.md, "Waiting in turn, and two engines per core").
// Each has a store connection with its page cache and a policy module
// host.
std::size_t engine_count() { return std::clamp(std::thread::hardware_concurrency() * 2, 2U, 4U); }

// The calls that may run beside others, each on an engine of its own:
// they add requests and certificates, or read. Everything else (revocation,
// edits, CRLs, the OCSP signer, backups, the audit log, a reload) takes the
// first engine alone, as it did when there was one.
bool runs_beside_others(Op op) {
  switch (op) {
    case Op::kSubmit:
    case Op::kEnroll:
    case Op::kRetrieve:
    case Op::kShow:
    case Op::kList:
    case Op::kWhoami:
    case Op::kCaCerts:
      return true;
    default:
      return false;
  }
}

// The calls after which the status lane's kept OCSP answers may be wrong.
bool changes_a_status(Op op) { return op == Op::kRevoke || op == Op::kRevokeBatch || op == Op::kUnrevoke; }

}  // namespace

Api::Api(engine::CertificateAuthority& ca, engine::Publisher publisher)
    : ca_(ca), publisher_(std::move(publisher)), engines_(std::make_unique<EnginePool>(make_engines())) {
  access_ = std::make_shared<Access>(ca_.config().roles, ca_.config().http.users);
  try {
    status_epoch_.emplace();
  } catch (const Error& error) {
    spdlog::warn("{}; the HTTP front end will keep no OCSP answer and ask custosd for each", error.what());
  }
  renew_status_lane(engines_->engine(0));
}

std::optional<int> Api::status_epoch_descriptor() const {
  if (!status_epoch_) return std::nullopt;
  return status_epoch_->descriptor();
}

Api::~Api() = default;

std::vector<std::unique_ptr<engine::Engine>> Api::make_engines() {
  std::vector<std::unique_ptr<engine::Engine>> engines;
  engines.push_back(std::make_unique<engine::Engine>(ca_, publisher_));
  while (engines.size() < engine_count()) {
    engines.push_back(std::make_unique<engine::Engine>(ca_, publisher_, ca_.open_another_connection()));
  }
  return engines;
}

void Api::with_engine(const std::function<void(engine::Engine&)>& work) {
  Lease lease(*engines_, EnginePool::Use::kAlone);
  work(lease.engine());
}

void Api::with_delivery_engine(const std::function<void(engine::Engine&)>& work) {
  Lease lease(*engines_, EnginePool::Use::kFirst);
  work(lease.engine());
}

void Api::reload() {
  Lease lease(*engines_, EnginePool::Use::kAlone);
  // The new engines first: they read ca.pem and the token's CA key, neither
  // of which a reload changes, and the configuration only when it is
  // used. When they or the file cannot be had, everything in force stays.
  std::vector<std::unique_ptr<engine::Engine>> fresh = make_engines();
  ca_.reload_config();
  {
    std::lock_guard swap(access_mutex_);
    access_ = std::make_shared<Access>(ca_.config().roles, ca_.config().http.users);
  }
  // The old engines' module hosts get their shutdown as they go.
  engines_->replace(std::move(fresh));
  renew_status_lane_or_close_it(lease.engine());
}

void Api::renew_status_lane(const engine::Engine& first) {
  install_status_lane(std::make_shared<engine::StatusResponder>(ca_, first));
}

void Api::install_status_lane(std::shared_ptr<engine::StatusResponder> lane) noexcept {
  std::lock_guard swap(status_mutex_);
  status_ = std::move(lane);
  if (status_epoch_) status_epoch_->advance();
}

void Api::renew_status_lane_or_close_it(const engine::Engine& first) noexcept {
  try {
    renew_status_lane(first);
  } catch (const std::exception& error) {
    // No lane rather than one whose kept answers may be stale: the engine
    // answers until a later call makes the lane again.
    spdlog::warn("the status lane could not be made again ({}); OCSP and the CRL go through the engine",
                 error.what());
    install_status_lane(nullptr);
  }
}

nlohmann::json Api::handle(const nlohmann::json& call, std::optional<uid_t> local_uid) {
  using operations::failure;
  try {
    if (!call.is_object() || !call.contains("op") || !call.at("op").is_string()) {
      throw UsageError("a call is an object with an \"op\"");
    }
    for (const auto& [key, value] : call.items()) {
      if (key != "op" && key != "args" && key != "caller") throw UsageError("unknown key '" + key + "' in a call");
    }
    const operations::Operation& row = operations::operation_named(call.at("op").get<std::string>());
    nlohmann::json args = call.value("args", nlohmann::json::object());
    operations::check_arguments(row, args);
    // Relying parties do not wait for issuance: OCSP and the CRL, which
    // anyone may ask for, are answered beside the engine when they can be.
    const bool status_lane = row.op == Op::kOcsp || row.op == Op::kCurrentCrl;
    if (status_lane) {
      if (std::optional<nlohmann::json> answer = answer_beside_the_engine(row.op, Arguments(args))) {
        return operations::success(*answer);
      }
    }
    // A password is checked outside any engine, while other calls use
    // them; when a reload came in between, the caller is authenticated
    // again under the roles now in force.
    const EnginePool::Use use = runs_beside_others(row.op) ? EnginePool::Use::kAny : EnginePool::Use::kAlone;
    std::optional<Lease> lease;
    Caller caller;
    for (;;) {
      std::shared_ptr<Access> access;
      {
        std::lock_guard snapshot(access_mutex_);
        access = access_;
      }
      caller = local_uid ? access->from_uid(*local_uid)
                         : access->from_http(call.value("caller", nlohmann::json::object()));
      lease.emplace(*engines_, use);
      std::lock_guard check(access_mutex_);
      if (access == access_) break;
      lease.reset();
    }
    engine::Engine& engine = lease->engine();
    if (row.local_only && !local_uid) {
      throw Forbidden(std::string(row.name) + " is made through the local socket only", row.roles.front());
    }
    if (!row.roles.empty()) Access::require(caller, row.roles);
    // Who presents a certificate is only who the CA says, on every call
    // but those anyone may make (OCSP and the CRL).
    if (!status_lane && !caller.certificate.empty()) engine.client_certificate(caller.certificate);
    if (row.op == Op::kReload) {
      // SIGHUP for those the socket lets in: reload takes the engines itself.
      lease.reset();
      reload();
      spdlog::info("reloaded {} for {}", ca_.paths().config.string(), caller.actor);
      return operations::success(nlohmann::json::object());
    }
    if (status_lane || changes_a_status(row.op)) {
      // The engine answered what the lane could not, or changed what it
      // answers: the lane is made again to know what the engine did (a new
      // CRL, a new OCSP signer, a revocation), with none of the answers
      // the old one kept. Also when the call failed: it may have failed
      // after its commit (the sync that follows it).
      nlohmann::json answer;
      try {
        answer = dispatch(engine, row.op, Arguments(args), caller);
      } catch (...) {
        renew_status_lane_or_close_it(engine);
        throw;
      }
      renew_status_lane_or_close_it(engine);
      return operations::success(answer);
    }
    return operations::success(dispatch(engine, row.op, Arguments(args), caller));
  } catch (const Forbidden& error) {
    nlohmann::json answer = failure(FailureKind::kForbidden, error.what());
    answer["role"] = engine::role_name(error.needed());
    return answer;
  } catch (const Unauthenticated& error) {
    return failure(FailureKind::kUnauthenticated, error.what());
  } catch (const engine::UntrustedClient& error) {
    return failure(FailureKind::kUnauthenticated, error.what());
  } catch (const UsageError& error) {
    return failure(FailureKind::kUsage, error.what());
  } catch (const engine::NotFound& error) {
    return failure(FailureKind::kNotFound, error.what());
  } catch (const storage::StateConflict& error) {
    return failure(FailureKind::kConflict, error.what());
  } catch (const x509::MalformedRequest& error) {
    return failure(FailureKind::kBadRequest, error.what());
  } catch (const x509::RejectedRequest& error) {
    return failure(FailureKind::kBadRequest, error.what());
  } catch (const nlohmann::json::exception& error) {
    return failure(FailureKind::kBadRequest, std::string("a malformed call: ") + error.what());
  } catch (const std::exception& error) {
    return failure(FailureKind::kFailed, error.what());
  }
}

// One handler per row of the operation table, its roles already checked.
// The switch has no default: an operation added to the table without a
// handler here does not compile (-Wswitch, an error in every preset).
nlohmann::json Api::dispatch(engine::Engine& engine, Op op, const Arguments& args, const Caller& caller) {
  switch (op) {
    case Op::kSubmit: return submit(engine, args, caller);
    case Op::kEnroll: return enroll(engine, args, caller);
    case Op::kRetrieve: return retrieve(engine, args, caller);
    case Op::kShow: return engine.certificate_status(args.text("serial")).to_json();
    case Op::kList: {
      storage::RequestPage page;
      if (args.has("after")) page.after = args.number("after");
      page.limit = std::min(args.has("limit") ? args.number("limit") : operations::kMaxListPage, operations::kMaxListPage);
      return engine::list_requests_to_wire(engine, args.text_or("state", ""), page);
    }
    case Op::kCurrentCrl: {
      if (!args.has("number")) return crl_to_wire(engine.current_crl("custosd"), args);
      std::optional<storage::CrlRecord> crl = engine.find_crl(args.number("number"));
      if (!crl) throw engine::NotFound("there is no CRL number " + std::to_string(args.number("number")));
      return crl_to_wire(*crl, args);
    }
    case Op::kCaCerts: return ca_certs();
    case Op::kOcsp: {
      std::time_t this_update = 0;
      std::time_t next_update = 0;
      std::vector<std::uint8_t> response = engine.answer_ocsp(args.bytes("request"), this_update, next_update);
      return ocsp_to_wire(response, this_update, next_update);
    }
    case Op::kBackup: return backup(engine, args, caller);
    case Op::kAuditVerify: {
      std::string expect = args.text_or("expect", "");
      std::optional<engine::AuditExpectation> expectation;
      if (!expect.empty()) expectation = engine::AuditExpectation::parse(expect);
      return engine.verify_audit(expectation).to_json();
    }
    case Op::kWhoami: return whoami(caller);
    case Op::kReload: throw Error("reload is answered before the engine is asked");
    case Op::kResubmit: return engine::disposition_to_wire(engine.resubmit(args.number("id"), caller.actor));
    case Op::kDeny: {
      std::int64_t id = args.number("id");
      engine.deny(id, args.text_or("message", ""), caller.actor);
      return engine::disposition_to_wire(engine.retrieve(id));
    }
    case Op::kSetAttribute:
      engine.set_attribute(args.number("id"), args.text("name"), args.text("value"), caller.actor);
      return nlohmann::json::object();
    case Op::kSetExtension:
      engine.set_extension(args.number("id"), args.text("oid"), args.bytes("der"), args.flag_or("critical", false),
                             caller.actor);
      return nlohmann::json::object();
    case Op::kRemoveExtension:
      engine.remove_extension(args.number("id"), args.text("oid"), caller.actor);
      return nlohmann::json::object();
    case Op::kRevoke: {
      std::optional<std::time_t> at;
      if (args.has("at")) at = args.number("at");
      engine.revoke(args.text("serial"), args.text("reason"), at, caller.actor);
      return nlohmann::json::object();
    }
    case Op::kRevokeBatch: {
      std::vector<std::string> serials = args.texts("serials");
      if (serials.size() > operations::kMaxRevocationBatch) {
        throw UsageError("a revoke_batch call names at most " + std::to_string(operations::kMaxRevocationBatch) +
                         " serials, not " + std::to_string(serials.size()) + ": send the rest in another");
      }
      std::optional<std::time_t> at;
      if (args.has("at")) at = args.number("at");
      return engine.revoke_batch(serials, args.text("reason"), at, caller.actor).to_json();
    }
    case Op::kUnrevoke:
      engine.unrevoke(args.text("serial"), caller.actor);
      return nlohmann::json::object();
    case Op::kPublishCrl: {
      // The CRL itself the caller reads in parts (current_crl with this number).
      engine::PublishedCrl crl = engine.publish_crl(caller.actor);
      return {{"number", crl.number}, {"size", crl.der.size()}, {"file", crl.file.string()}};
    }
  }
  throw Error("an operation outside the table");
}

nlohmann::json Api::submit(engine::Engine& engine, const Arguments& args, const Caller& caller) {
  std::map<std::string, std::string> attributes = args.strings_or_empty("attributes");
  bool hold = hold_unauthenticated(ca_.config(), caller,
                                   attributes.contains("profile") ? attributes["profile"] : engine::kDefaultProfile);
  return engine::disposition_to_wire(engine.submit(args.bytes("csr"), attributes, caller.identity, hold));
}

nlohmann::json Api::enroll(engine::Engine& engine, const Arguments& args, const Caller& caller) {
  const engine::CaConfig& config = ca_.config();
  std::vector<std::uint8_t> request = args.bytes("csr");
  std::string profile = args.text_or("profile", config.http.est_profile);
  // An EST label names a profile; an unknown one is not a place to enroll.
  if (config.find_profile(profile) == nullptr) throw engine::NotFound("there is no EST label '" + profile + "'");
  if (args.flag_or("reenroll", false)) {
    if (caller.certificate.empty()) {
      throw Unauthenticated("simplereenroll needs the client's current certificate in the TLS handshake");
    }
    return engine::disposition_to_wire(engine.reenroll(request, caller.certificate, caller.identity));
  }
  bool hold = hold_unauthenticated(config, caller, profile);
  return engine::disposition_to_wire(engine.enroll(request, {{"profile", profile}}, caller.identity, hold));
}

nlohmann::json Api::retrieve(engine::Engine& engine, const Arguments& args, const Caller& caller) {
  std::int64_t id = args.number("id");
  // A requester sees their own requests; officers and auditors see all.
  if (!caller.holds(Role::kOfficer) && !caller.holds(Role::kAuditor)) {
    std::optional<storage::RequestRecord> record = engine.find_request(id);
    if (!record) throw engine::NotFound("there is no request " + std::to_string(id));
    if (record->requester != caller.identity) {
      throw Forbidden("request " + std::to_string(id) + " is not " + caller.identity +
                          "'s; another's request needs the officer or auditor role",
                      Role::kOfficer);
    }
  }
  return engine::disposition_to_wire(engine.retrieve_for_client(id, caller.identity));
}

std::optional<nlohmann::json> Api::answer_beside_the_engine(Op op, const Arguments& args) {
  std::shared_ptr<engine::StatusResponder> status;
  {
    std::lock_guard snapshot(status_mutex_);
    status = status_;
  }
  if (!status) return std::nullopt;
  if (op == Op::kCurrentCrl) {
    std::shared_ptr<const storage::CrlRecord> crl =
        status->crl(args.has("number") ? std::optional(args.number("number")) : std::nullopt);
    if (!crl) return std::nullopt;
    return crl_to_wire(*crl, args);
  }
  std::time_t this_update = 0;
  std::time_t next_update = 0;
  std::time_t reuse_until = 0;
  std::optional<std::vector<std::uint8_t>> response =
      status->answer_ocsp(args.bytes("request"), this_update, next_update, reuse_until);
  if (!response) return std::nullopt;
  return ocsp_to_wire(*response, this_update, next_update, reuse_until);
}

nlohmann::json Api::ca_certs() {
  nlohmann::json certificates = nlohmann::json::array();
  for (const ossl::Ptr<X509>& certificate : x509::read_pem_certificates(engine::read_ca_chain(ca_.paths().directory))) {
    certificates.push_back(to_base64(x509::certificate_der(certificate.get())));
  }
  return {{"certificates", certificates}};
}

nlohmann::json Api::backup(engine::Engine& engine, const Arguments& args, const Caller& caller) {
  // custosd writes where it is told, as its own user: only for a local
  // caller who is an operator (the table says both), through the
  // descriptor of a directory it made (not the path, which the caller may
  // swap), handed to the caller at the end.
  std::filesystem::path directory = args.text("directory");
  if (!directory.is_absolute()) throw UsageError("the backup directory must be an absolute path");
  return engine.backup(directory, caller.actor, static_cast<unsigned>(std::stoul(caller.identity.substr(4)))).to_json();
}

nlohmann::json Api::whoami(const Caller& caller) {
  nlohmann::json roles = nlohmann::json::array();
  for (Role role : caller.roles) roles.push_back(engine::role_name(role));
  return {{"identity", caller.identity}, {"roles", roles}, {"authenticated", caller.authenticated}};
}

}  // namespace custos::server
