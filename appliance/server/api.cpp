#include "appliance/server/api.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "appliance/x509/crl.h"
#include "appliance/x509/csr.h"
#include "appliance/x509/pem.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "appliance/engine/wire_form.h"
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

nlohmann::json crl_to_wire(const storage::CrlRecord& crl) {
  return {{"number", crl.number},
          {"der", to_base64(crl.der)},
          {"this_update", parse_rfc3339(crl.this_update)},
          {"next_update", parse_rfc3339(crl.next_update)}};
}

nlohmann::json ocsp_to_wire(const std::vector<std::uint8_t>& response, std::time_t this_update, std::time_t next_update) {
  return {{"response", to_base64(response)}, {"this_update", this_update}, {"next_update", next_update}};
}

}  // namespace

Api::Api(engine::CertificateAuthority& ca, engine::Publisher publisher)
    : ca_(ca), publisher_(std::move(publisher)), engine_(std::make_unique<engine::Engine>(ca, publisher_)) {
  access_ = std::make_shared<Access>(ca_.config().roles, ca_.config().http.users);
  renew_status_lane();
}

void Api::with_engine(const std::function<void(engine::Engine&)>& work) {
  std::lock_guard lock(mutex_);
  work(*engine_);
}

void Api::reload() {
  std::lock_guard lock(mutex_);
  // The new engine first: it reads ca.pem and the token's CA key, neither
  // of which a reload changes, and the configuration only when it is
  // used. When it or the file cannot be had, everything in force stays.
  auto fresh = std::make_unique<engine::Engine>(ca_, publisher_);
  ca_.reload_config();
  access_ = std::make_shared<Access>(ca_.config().roles, ca_.config().http.users);
  // The old engine's module hosts get their shutdown as it goes.
  engine_ = std::move(fresh);
  renew_status_lane();
}

void Api::renew_status_lane() {
  auto fresh = std::make_shared<engine::StatusResponder>(ca_, *engine_);
  std::lock_guard swap(status_mutex_);
  status_ = std::move(fresh);
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
    // A password is checked outside the engine's lock, while other calls
    // use the engine; when a reload came in between, the caller is
    // authenticated again under the roles now in force.
    std::unique_lock lock(mutex_, std::defer_lock);
    Caller caller;
    for (;;) {
      std::shared_ptr<Access> access;
      {
        std::lock_guard snapshot(mutex_);
        access = access_;
      }
      caller = local_uid ? access->from_uid(*local_uid)
                         : access->from_http(call.value("caller", nlohmann::json::object()));
      lock.lock();
      if (access == access_) break;
      lock.unlock();
    }
    if (row.local_only && !local_uid) {
      throw Forbidden(std::string(row.name) + " is made through the local socket only", row.roles.front());
    }
    if (!row.roles.empty()) Access::require(caller, row.roles);
    // Who presents a certificate is only who the CA says, on every call
    // but those anyone may make (OCSP and the CRL).
    if (!status_lane && !caller.certificate.empty()) engine_->client_certificate(caller.certificate);
    if (row.op == Op::kReload) {
      // SIGHUP for those the socket lets in: the engine's lock is reload's own.
      lock.unlock();
      reload();
      spdlog::info("reloaded {} for {}", ca_.paths().config.string(), caller.actor);
      return operations::success(nlohmann::json::object());
    }
    if (status_lane) {
      // The engine answered what the lane could not; the lane is made again
      // to know what the engine did (a new CRL, a new OCSP signer).
      nlohmann::json answer = dispatch(row.op, Arguments(args), caller);
      renew_status_lane();
      return operations::success(answer);
    }
    return operations::success(dispatch(row.op, Arguments(args), caller));
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
nlohmann::json Api::dispatch(Op op, const Arguments& args, const Caller& caller) {
  switch (op) {
    case Op::kSubmit: return submit(args, caller);
    case Op::kEnroll: return enroll(args, caller);
    case Op::kRetrieve: return retrieve(args, caller);
    case Op::kShow: return engine_->certificate_status(args.text("serial")).to_json();
    case Op::kList: {
      storage::RequestPage page;
      if (args.has("after")) page.after = args.number("after");
      page.limit = std::min(args.has("limit") ? args.number("limit") : operations::kMaxListPage, operations::kMaxListPage);
      return engine::list_requests_to_wire(*engine_, args.text_or("state", ""), page);
    }
    case Op::kCurrentCrl: return current_crl();
    case Op::kCaCerts: return ca_certs();
    case Op::kOcsp: return ocsp(args);
    case Op::kBackup: return backup(args, caller);
    case Op::kAuditVerify: return audit_verify(args);
    case Op::kWhoami: return whoami(caller);
    case Op::kReload: throw Error("reload is answered before the engine is asked");
    case Op::kResubmit: return engine::disposition_to_wire(engine_->resubmit(args.number("id"), caller.actor));
    case Op::kDeny: {
      std::int64_t id = args.number("id");
      engine_->deny(id, args.text_or("message", ""), caller.actor);
      return engine::disposition_to_wire(engine_->retrieve(id));
    }
    case Op::kSetAttribute:
      engine_->set_attribute(args.number("id"), args.text("name"), args.text("value"), caller.actor);
      return nlohmann::json::object();
    case Op::kSetExtension:
      engine_->set_extension(args.number("id"), args.text("oid"), args.bytes("der"), args.flag_or("critical", false),
                             caller.actor);
      return nlohmann::json::object();
    case Op::kRemoveExtension:
      engine_->remove_extension(args.number("id"), args.text("oid"), caller.actor);
      return nlohmann::json::object();
    case Op::kRevoke: {
      std::optional<std::time_t> at;
      if (args.has("at")) at = args.number("at");
      engine_->revoke(args.text("serial"), args.text("reason"), at, caller.actor);
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
      return engine_->revoke_batch(serials, args.text("reason"), at, caller.actor).to_json();
    }
    case Op::kUnrevoke:
      engine_->unrevoke(args.text("serial"), caller.actor);
      return nlohmann::json::object();
    case Op::kPublishCrl: {
      engine::PublishedCrl crl = engine_->publish_crl(caller.actor);
      return {{"number", crl.number}, {"der", to_base64(crl.der)}, {"pem", crl.pem}, {"file", crl.file.string()}};
    }
  }
  throw Error("an operation outside the table");
}

nlohmann::json Api::submit(const Arguments& args, const Caller& caller) {
  std::map<std::string, std::string> attributes = args.strings_or_empty("attributes");
  bool hold = hold_unauthenticated(ca_.config(), caller,
                                   attributes.contains("profile") ? attributes["profile"] : engine::kDefaultProfile);
  return engine::disposition_to_wire(engine_->submit(args.bytes("csr"), attributes, caller.identity, hold));
}

nlohmann::json Api::enroll(const Arguments& args, const Caller& caller) {
  const engine::CaConfig& config = ca_.config();
  std::vector<std::uint8_t> request = args.bytes("csr");
  std::string profile = args.text_or("profile", config.http.est_profile);
  // An EST label names a profile; an unknown one is not a place to enroll.
  if (config.find_profile(profile) == nullptr) throw engine::NotFound("there is no EST label '" + profile + "'");
  if (args.flag_or("reenroll", false)) {
    if (caller.certificate.empty()) {
      throw Unauthenticated("simplereenroll needs the client's current certificate in the TLS handshake");
    }
    return engine::disposition_to_wire(engine_->reenroll(request, caller.certificate, caller.identity));
  }
  bool hold = hold_unauthenticated(config, caller, profile);
  return engine::disposition_to_wire(engine_->enroll(request, {{"profile", profile}}, caller.identity, hold));
}

nlohmann::json Api::retrieve(const Arguments& args, const Caller& caller) {
  std::int64_t id = args.number("id");
  // A requester sees their own requests; officers and auditors see all.
  if (!caller.holds(Role::kOfficer) && !caller.holds(Role::kAuditor)) {
    std::optional<storage::RequestRecord> record = ca_.store().find_request(id);
    if (!record) throw engine::NotFound("there is no request " + std::to_string(id));
    if (record->requester != caller.identity) {
      throw Forbidden("request " + std::to_string(id) + " is not " + caller.identity +
                          "'s; another's request needs the officer or auditor role",
                      Role::kOfficer);
    }
  }
  return engine::disposition_to_wire(engine_->retrieve_for_client(id, caller.identity));
}

nlohmann::json Api::current_crl() { return crl_to_wire(engine_->current_crl("custosd")); }

std::optional<nlohmann::json> Api::answer_beside_the_engine(Op op, const Arguments& args) {
  std::shared_ptr<engine::StatusResponder> status;
  {
    std::lock_guard snapshot(status_mutex_);
    status = status_;
  }
  if (op == Op::kCurrentCrl) {
    std::optional<storage::CrlRecord> crl = status->current_crl();
    if (!crl) return std::nullopt;
    return crl_to_wire(*crl);
  }
  std::time_t this_update = 0;
  std::time_t next_update = 0;
  std::optional<std::vector<std::uint8_t>> response = status->answer_ocsp(args.bytes("request"), this_update, next_update);
  if (!response) return std::nullopt;
  return ocsp_to_wire(*response, this_update, next_update);
}

nlohmann::json Api::ca_certs() {
  nlohmann::json certificates = nlohmann::json::array();
  for (const ossl::Ptr<X509>& certificate : x509::read_pem_certificates(engine::read_ca_chain(ca_.paths().directory))) {
    certificates.push_back(to_base64(x509::certificate_der(certificate.get())));
  }
  return {{"certificates", certificates}};
}

nlohmann::json Api::ocsp(const Arguments& args) {
  std::time_t this_update = 0;
  std::time_t next_update = 0;
  std::vector<std::uint8_t> response = engine_->answer_ocsp(args.bytes("request"), this_update, next_update);
  return ocsp_to_wire(response, this_update, next_update);
}

nlohmann::json Api::backup(const Arguments& args, const Caller& caller) {
  // custosd writes where it is told, as its own user: only for a local
  // caller who is an operator (the table says both), through the
  // descriptor of a directory it made (not the path, which the caller may
  // swap), handed to the caller at the end.
  std::filesystem::path directory = args.text("directory");
  if (!directory.is_absolute()) throw UsageError("the backup directory must be an absolute path");
  return engine_->backup(directory, caller.actor, static_cast<unsigned>(std::stoul(caller.identity.substr(4)))).to_json();
}

nlohmann::json Api::audit_verify(const Arguments& args) {
  std::string expect = args.text_or("expect", "");
  std::optional<engine::AuditExpectation> expectation;
  if (!expect.empty()) expectation = engine::AuditExpectation::parse(expect);
  return engine_->verify_audit(expectation).to_json();
}

nlohmann::json Api::whoami(const Caller& caller) {
  nlohmann::json roles = nlohmann::json::array();
  for (Role role : caller.roles) roles.push_back(engine::role_name(role));
  return {{"identity", caller.identity}, {"roles", roles}, {"authenticated", caller.authenticated}};
}

}  // namespace custos::server
