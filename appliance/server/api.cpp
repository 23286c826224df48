#include "appliance/server/api.h"

#include <set>

#include <spdlog/spdlog.h>

#include "appliance/x509/crl.h"
#include "appliance/x509/csr.h"
#include "appliance/x509/pem.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "storage/store.h"

namespace custos::server {
namespace {

using engine::Role;

// The arguments of one call, read strictly: each is taken by name and type,
// and one left over is an error.
class Arguments {
 public:
  explicit Arguments(const nlohmann::json& args) : args_(args) {
    if (!args_.is_object()) throw UsageError("the call's args must be an object");
  }
  std::string text(const std::string& name) {
    const nlohmann::json& value = take(name);
    if (!value.is_string()) throw UsageError("'" + name + "' must be a string");
    return value.get<std::string>();
  }
  std::string text_or(const std::string& name, const std::string& fallback) {
    return args_.contains(name) ? text(name) : fallback;
  }
  std::int64_t number(const std::string& name) {
    const nlohmann::json& value = take(name);
    if (!value.is_number_integer()) throw UsageError("'" + name + "' must be an integer");
    return value.get<std::int64_t>();
  }
  bool flag_or(const std::string& name, bool fallback) {
    if (!args_.contains(name)) return fallback;
    const nlohmann::json& value = take(name);
    if (!value.is_boolean()) throw UsageError("'" + name + "' must be true or false");
    return value.get<bool>();
  }
  std::vector<std::uint8_t> bytes(const std::string& name) {
    try {
      return from_base64(text(name));
    } catch (const UsageError&) {
      throw;
    } catch (const Error&) {
      throw UsageError("'" + name + "' must be base64");
    }
  }
  std::map<std::string, std::string> strings_or_empty(const std::string& name) {
    std::map<std::string, std::string> values;
    if (!args_.contains(name)) return values;
    const nlohmann::json& object = take(name);
    if (!object.is_object()) throw UsageError("'" + name + "' must be an object of strings");
    for (const auto& [key, value] : object.items()) {
      if (!value.is_string()) throw UsageError("'" + name + "." + key + "' must be a string");
      values[key] = value.get<std::string>();
    }
    return values;
  }
  // Called once every argument is taken.
  void done() const {
    for (const auto& [key, value] : args_.items()) {
      if (!taken_.contains(key)) throw UsageError("unknown argument '" + key + "'");
    }
  }

 private:
  const nlohmann::json& take(const std::string& name) {
    if (!args_.contains(name)) throw UsageError("the argument '" + name + "' is missing");
    taken_.insert({name, true});
    return args_.at(name);
  }
  const nlohmann::json& args_;
  std::map<std::string, bool> taken_;
};

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

}  // namespace

nlohmann::json failure(const std::string& kind, const std::string& message) {
  return {{"ok", false}, {"kind", kind}, {"error", message}};
}

nlohmann::json request_record_to_wire(const storage::RequestRecord& record) {
  nlohmann::json entry = {{"request_id", record.id},
                          {"status", storage::request_state_name(record.state)},
                          {"message", record.message},
                          {"subject", record.subject},
                          {"profile", record.profile},
                          {"submitted_at", record.submitted_at}};
  if (record.serial) entry["serial"] = *record.serial;
  if (record.not_after) entry["not_after"] = *record.not_after;
  if (record.revocation) {
    entry["revoked_at"] = record.revocation->revoked_at;
    entry["revocation_reason"] = record.revocation->reason;
  }
  return entry;
}

nlohmann::json disposition_to_wire(const engine::Disposition& disposition) {
  nlohmann::json wire = disposition.to_json();
  if (!disposition.certificate.empty()) wire["certificate"] = to_base64(disposition.certificate);
  return wire;
}

engine::Disposition disposition_from_wire(const nlohmann::json& wire) {
  engine::Disposition disposition;
  disposition.request_id = wire.at("request_id").get<std::int64_t>();
  std::optional<storage::RequestState> state = storage::parse_request_state(wire.at("status").get<std::string>());
  if (!state) throw Error("custosd answered an unknown status");
  disposition.state = *state;
  if (wire.contains("serial")) disposition.serial = wire.at("serial").get<std::string>();
  disposition.message = wire.value("message", "");
  if (wire.contains("certificate")) disposition.certificate = from_base64(wire.at("certificate").get<std::string>());
  return disposition;
}

Api::Api(engine::CertificateAuthority& ca, std::unique_ptr<engine::Engine> engine)
    : ca_(ca), engine_(std::move(engine)) {
  access_ = std::make_shared<Access>(ca_.config().roles, ca_.config().http.users);
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
  auto fresh = std::make_unique<engine::Engine>(ca_);
  ca_.reload_config();
  access_ = std::make_shared<Access>(ca_.config().roles, ca_.config().http.users);
  // The old engine's module hosts get their shutdown as it goes.
  engine_ = std::move(fresh);
}

nlohmann::json Api::handle(const nlohmann::json& call, std::optional<uid_t> local_uid) {
  try {
    if (!call.is_object() || !call.contains("op") || !call.at("op").is_string()) {
      throw UsageError("a call is an object with an \"op\"");
    }
    for (const auto& [key, value] : call.items()) {
      if (key != "op" && key != "args" && key != "caller") throw UsageError("unknown key '" + key + "' in a call");
    }
    std::string op = call.at("op").get<std::string>();
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
    if (op == "reload") {
      // SIGHUP for those the socket lets in: the engine's lock is reload's own.
      Arguments(call.value("args", nlohmann::json::object())).done();
      Access::require(caller, {Role::kAdministrator});
      lock.unlock();
      reload();
      spdlog::info("reloaded {} for {}", ca_.paths().config.string(), caller.actor);
      return {{"ok", true}, {"result", nlohmann::json::object()}};
    }
    if (!caller.certificate.empty()) engine_->client_certificate(caller.certificate);
    return {{"ok", true}, {"result", dispatch(op, call.value("args", nlohmann::json::object()), caller)}};
  } catch (const Forbidden& error) {
    nlohmann::json answer = failure("forbidden", error.what());
    answer["role"] = engine::role_name(error.needed());
    return answer;
  } catch (const Unauthenticated& error) {
    return failure("unauthenticated", error.what());
  } catch (const engine::UntrustedClient& error) {
    return failure("unauthenticated", error.what());
  } catch (const UsageError& error) {
    return failure("usage", error.what());
  } catch (const engine::NotFound& error) {
    return failure("not_found", error.what());
  } catch (const storage::StateConflict& error) {
    return failure("conflict", error.what());
  } catch (const x509::MalformedRequest& error) {
    return failure("bad_request", error.what());
  } catch (const x509::RejectedRequest& error) {
    return failure("bad_request", error.what());
  } catch (const nlohmann::json::exception& error) {
    return failure("bad_request", std::string("a malformed call: ") + error.what());
  } catch (const std::exception& error) {
    return failure("failed", error.what());
  }
}

nlohmann::json Api::dispatch(const std::string& op, const nlohmann::json& args_json, const Caller& caller) {
  engine::Engine& engine = *engine_;
  const engine::CaConfig& config = ca_.config();
  Arguments args(args_json);
  auto may_see = [&](std::int64_t id) {
    if (caller.holds(Role::kOfficer) || caller.holds(Role::kAuditor)) return;
    std::optional<storage::RequestRecord> record = ca_.store().find_request(id);
    if (!record) throw engine::NotFound("there is no request " + std::to_string(id));
    if (record->requester != caller.identity) {
      throw Forbidden("request " + std::to_string(id) + " is not " + caller.identity +
                          "'s; another's request needs the officer or auditor role",
                      Role::kOfficer);
    }
  };

  if (op == "submit") {
    std::vector<std::uint8_t> request = args.bytes("csr");
    std::map<std::string, std::string> attributes = args.strings_or_empty("attributes");
    args.done();
    bool hold = hold_unauthenticated(config, caller, attributes.contains("profile") ? attributes["profile"] : "server");
    return disposition_to_wire(engine.submit(request, attributes, caller.identity, hold));
  }
  if (op == "enroll") {
    std::vector<std::uint8_t> request = args.bytes("csr");
    std::string profile = args.text_or("profile", config.http.est_profile);
    bool reenroll = args.flag_or("reenroll", false);
    args.done();
    // An EST label names a profile; an unknown one is not a place to enroll.
    if (config.find_profile(profile) == nullptr) throw engine::NotFound("there is no EST label '" + profile + "'");
    if (reenroll) {
      if (caller.certificate.empty()) {
        throw Unauthenticated("simplereenroll needs the client's current certificate in the TLS handshake");
      }
      return disposition_to_wire(engine.reenroll(request, caller.certificate, caller.identity));
    }
    bool hold = hold_unauthenticated(config, caller, profile);
    return disposition_to_wire(engine.enroll(request, {{"profile", profile}}, caller.identity, hold));
  }
  if (op == "retrieve") {
    std::int64_t id = args.number("id");
    args.done();
    may_see(id);
    return disposition_to_wire(engine.retrieve_for_client(id, caller.identity));
  }
  if (op == "show") {
    std::string serial = args.text("serial");
    args.done();
    Access::require(caller, {Role::kOfficer, Role::kAuditor});
    return engine.certificate_status(serial).to_json();
  }
  if (op == "list") {
    std::string state_name = args.text_or("state", "");
    args.done();
    Access::require(caller, {Role::kOfficer, Role::kAuditor});
    std::optional<storage::RequestState> state;
    if (!state_name.empty()) {
      state = storage::parse_request_state(state_name);
      if (!state) throw UsageError("--state must be pending, issued, denied, revoked, failed or received");
    }
    nlohmann::json records = nlohmann::json::array();
    for (const storage::RequestRecord& record : engine.list(state)) records.push_back(request_record_to_wire(record));
    return records;
  }
  if (op == "current_crl") {
    args.done();
    storage::CrlRecord crl = engine.current_crl("custosd");
    return {{"number", crl.number},
            {"der", to_base64(crl.der)},
            {"this_update", parse_rfc3339(crl.this_update)},
            {"next_update", parse_rfc3339(crl.next_update)}};
  }
  if (op == "ca_certs") {
    args.done();
    nlohmann::json certificates = nlohmann::json::array();
    for (const ossl::Ptr<X509>& certificate : x509::read_pem_certificates(engine::read_ca_chain(ca_.paths().directory))) {
      certificates.push_back(to_base64(x509::certificate_der(certificate.get())));
    }
    return {{"certificates", certificates}};
  }

  if (op == "ocsp") {
    std::vector<std::uint8_t> request = args.bytes("request");
    args.done();
    std::time_t this_update = 0;
    std::time_t next_update = 0;
    std::vector<std::uint8_t> response = engine.answer_ocsp(request, this_update, next_update);
    return {{"response", to_base64(response)}, {"this_update", this_update}, {"next_update", next_update}};
  }

  if (op == "backup") {
    std::filesystem::path directory = args.text("directory");
    args.done();
    // custosd writes where it is told, as its own user: only for a local
    // caller who is an operator, through the descriptor of a directory it
    // made (not the path, which the caller may swap), handed to the caller
    // at the end.
    if (!caller.identity.starts_with("uid:")) throw Forbidden("a backup is made through the local socket only", Role::kOperator);
    Access::require(caller, {Role::kOperator});
    if (!directory.is_absolute()) throw UsageError("the backup directory must be an absolute path");
    // The caller gets the backup; custosd's user made it.
    return engine.backup(directory, caller.actor, static_cast<unsigned>(std::stoul(caller.identity.substr(4))))
        .to_json();
  }
  if (op == "audit_verify") {
    std::string expect = args.text_or("expect", "");
    args.done();
    Access::require(caller, {Role::kAuditor});
    std::optional<engine::AuditExpectation> expectation;
    if (!expect.empty()) expectation = engine::AuditExpectation::parse(expect);
    return engine.verify_audit(expectation).to_json();
  }

  // The officer's calls.
  static const std::set<std::string> kOfficerCalls = {"resubmit", "deny",     "set_attr",   "set_ext",
                                                      "remove_ext", "revoke", "unrevoke", "publish_crl"};
  if (!kOfficerCalls.contains(op)) throw UsageError("unknown call '" + op + "'");
  Access::require(caller, {Role::kOfficer});
  if (op == "resubmit") {
    std::int64_t id = args.number("id");
    args.done();
    return disposition_to_wire(engine.resubmit(id, caller.actor));
  }
  if (op == "deny") {
    std::int64_t id = args.number("id");
    std::string message = args.text_or("message", "");
    args.done();
    engine.deny(id, message, caller.actor);
    return disposition_to_wire(engine.retrieve(id));
  }
  if (op == "set_attr") {
    std::int64_t id = args.number("id");
    std::string name = args.text("name");
    std::string value = args.text("value");
    args.done();
    engine.set_attribute(id, name, value, caller.actor);
    return nlohmann::json::object();
  }
  if (op == "set_ext") {
    std::int64_t id = args.number("id");
    std::string oid = args.text("oid");
    std::vector<std::uint8_t> der = args.bytes("der");
    bool critical = args.flag_or("critical", false);
    args.done();
    engine.set_extension(id, oid, der, critical, caller.actor);
    return nlohmann::json::object();
  }
  if (op == "remove_ext") {
    std::int64_t id = args.number("id");
    std::string oid = args.text("oid");
    args.done();
    engine.remove_extension(id, oid, caller.actor);
    return nlohmann::json::object();
  }
  if (op == "revoke") {
    std::string serial = args.text("serial");
    std::string reason = args.text("reason");
    std::optional<std::time_t> at;
    if (args_json.contains("at")) at = args.number("at");
    args.done();
    engine.revoke(serial, reason, at, caller.actor);
    return nlohmann::json::object();
  }
  if (op == "unrevoke") {
    std::string serial = args.text("serial");
    args.done();
    engine.unrevoke(serial, caller.actor);
    return nlohmann::json::object();
  }
  if (op == "publish_crl") {
    args.done();
    engine::PublishedCrl crl = engine.publish_crl(caller.actor);
    return {{"number", crl.number}, {"der", to_base64(crl.der)}, {"pem", crl.pem}, {"file", crl.file.string()}};
  }
  throw Error("the call '" + op + "' has no handler");
}

}  // namespace custos::server
