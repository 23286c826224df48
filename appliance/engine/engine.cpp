#include "appliance/engine/engine.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <set>
#include <variant>

#include "appliance/engine/fault_point.h"
#include "appliance/engine/module_specs.h"
#include "appliance/x509/certificate.h"
#include "appliance/x509/csr.h"
#include "appliance/x509/lint.h"
#include "appliance/x509/name.h"
#include "appliance/x509/pem.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/process.h"
#include "modules/protocol/frame.h"

namespace custos::engine {
namespace {

using storage::RequestState;

constexpr int kSerialAttempts = 5;
constexpr std::time_t kStaleReceivedSeconds = 600;
constexpr std::int64_t kMaxValidityDays = 36500;
// Every decision starts from "received": a new request, or one an
// administrator's resubmission claimed.
const std::vector<RequestState> kFrom = {RequestState::kReceived};

// A turn taken through the store (Store::take_turn), given back when it
// goes out of scope.
class StoreTurn {
 public:
  StoreTurn(storage::Store& store, std::string name, std::string owner)
      : store_(store), name_(std::move(name)), owner_(std::move(owner)), held_(store_.take_turn(name_, owner_)) {}
  ~StoreTurn() {
    if (!held_) return;
    try {
      store_.end_turn(name_, owner_);
    } catch (const std::exception&) {
      // Left taken: the next taker finds this process gone and takes it.
    }
  }
  StoreTurn(const StoreTurn&) = delete;
  StoreTurn& operator=(const StoreTurn&) = delete;
  bool held() const { return held_; }

 private:
  storage::Store& store_;
  std::string name_;
  std::string owner_;
  bool held_;
};

unsigned key_usage_bits(const std::vector<std::string>& names) {
  static const std::map<std::string, unsigned> kBits = {
      {"digitalSignature", x509::kDigitalSignature}, {"nonRepudiation", x509::kNonRepudiation},
      {"keyEncipherment", x509::kKeyEncipherment},   {"dataEncipherment", x509::kDataEncipherment},
      {"keyAgreement", x509::kKeyAgreement},         {"keyCertSign", x509::kKeyCertSign},
      {"cRLSign", x509::kCrlSign}};
  unsigned bits = 0;
  for (const std::string& name : names) bits |= kBits.at(name);  // names were checked when custos.toml was loaded
  return bits;
}

// The request's profile as the engine parsed it, for the module (one parse,
// one schema: builtin:profiles decides from this).
std::optional<protocol::ProfileSnapshot> profile_snapshot(const CaConfig& config, const std::string& name) {
  const ProfileSection* profile = config.find_profile(name);
  if (profile == nullptr) return std::nullopt;
  return protocol::ProfileSnapshot{profile->name,       profile->decision,          profile->validity_days,
                                   profile->key_types,  profile->san_required,      profile->key_usage,
                                   profile->extended_key_usage, profile->ca, profile->path_length};
}

protocol::RequestSnapshot snapshot_of(const CaConfig& config, const storage::RequestRecord& record,
                                      const x509::CheckedRequest& checked) {
  protocol::RequestSnapshot snapshot;
  snapshot.id = record.id;
  snapshot.csr = record.csr;
  snapshot.subject = checked.subject;
  for (const x509::SubjectAltName& name : checked.san) snapshot.san.push_back({name.type, name.value});
  snapshot.key = {checked.key.type, checked.key.curve, checked.key.bits};
  snapshot.attributes = record.attributes;
  for (const x509::RequestedExtension& extension : checked.requested_extensions) {
    snapshot.requested_extensions.push_back({extension.oid, extension.critical, extension.der});
  }
  snapshot.profile = profile_snapshot(config, record.profile);
  return snapshot;
}

x509::RequestedExtension from_protocol(const protocol::Extension& extension) {
  return {extension.oid, extension.critical, extension.der};
}

// The administrator's edits to a pending request's certificate-to-be, as
// kept in the store: {"extensions_add": [{oid, critical, der(hex)}],
// "extensions_remove": [oid]}.
struct Overrides {
  std::vector<x509::RequestedExtension> add;
  std::vector<std::string> remove;

  static Overrides from_json(const nlohmann::json& json) {
    Overrides overrides;
    for (const nlohmann::json& entry : json.value("extensions_add", nlohmann::json::array())) {
      overrides.add.push_back({entry.at("oid"), entry.at("critical"), from_hex(entry.at("der").get<std::string>())});
    }
    overrides.remove = json.value("extensions_remove", std::vector<std::string>{});
    return overrides;
  }
  nlohmann::json to_json() const {
    nlohmann::json add_json = nlohmann::json::array();
    for (const x509::RequestedExtension& extension : add) {
      add_json.push_back({{"oid", extension.oid}, {"critical", extension.critical}, {"der", to_hex(extension.der)}});
    }
    return {{"extensions_add", add_json}, {"extensions_remove", remove}};
  }
  void drop(const std::string& oid) {
    std::erase_if(add, [&](const x509::RequestedExtension& extension) { return extension.oid == oid; });
    std::erase(remove, oid);
  }
};

std::string dotted_oid(const std::string& text) {
  ossl::Ptr<ASN1_OBJECT> object(OBJ_txt2obj(text.c_str(), 1));
  if (!object) throw Error("'" + text + "' is not a dotted OID");
  char dotted[128];
  OBJ_obj2txt(dotted, sizeof dotted, object.get(), 1);
  return dotted;
}

std::vector<std::uint8_t> serial_bytes(const std::string& hex) {
  return from_hex(hex.size() % 2 == 0 ? hex : "0" + hex);
}

}  // namespace

nlohmann::json Disposition::to_json() const {
  nlohmann::json json = {{"request_id", request_id}, {"status", storage::request_state_name(state)}, {"message", message}};
  if (serial) json["serial"] = *serial;
  return json;
}

int cabf_max_server_validity_days(std::time_t when) { return x509::br_max_subscriber_validity_days(when); }

std::string normalize_serial(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c != ':') hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  BIGNUM* number = nullptr;
  if (hex.empty() || hex.size() > 40 || BN_hex2bn(&number, hex.c_str()) != static_cast<int>(hex.size())) {
    BN_free(number);
    throw Error("'" + text + "' is not a serial number in hex");
  }
  ossl::Ptr<BIGNUM> owned(number);
  char* normalized = BN_bn2hex(owned.get());
  std::string result = normalized;
  OPENSSL_free(normalized);
  return result;
}

Engine::Engine(CertificateAuthority& ca, Publisher publisher, std::unique_ptr<storage::Store> connection)
    : ca_(ca),
      publisher_(std::move(publisher)),
      own_connection_(std::move(connection)),
      store_(own_connection_ ? *own_connection_ : ca.store()) {
  std::string pem = read_ca_chain(ca.paths().directory);
  ca_certificate_ = std::move(x509::read_pem_certificates(pem).front());
  ca_public_key_ = ca.token().public_key_info(ca.config().ca.key);
  ca_public_key_object_ = x509::parse_public_key(ca_public_key_);
  if (EVP_PKEY_eq(X509_get0_pubkey(ca_certificate_.get()), ca_public_key_object_.get()) != 1) {
    throw Error(ca.paths().certificate.string() + " is not the certificate of the CA key '" + ca.config().ca.key.label +
                "' on the token: refusing to sign with a key the CA certificate does not name");
  }
  ca_key_identifier_ = x509::subject_key_identifier(ca_certificate_.get());
  report_unrecorded_signatures();
}

ModuleClient& Engine::policy() {
  if (!policy_) policy_ = std::make_unique<ModuleClient>(policy_module_spec(ca_.config(), ca_.paths().directory));
  return *policy_;
}

std::vector<Engine::ExitModule>& Engine::exit_modules() {
  if (exit_modules_) return *exit_modules_;
  // Made whole or not at all: a module that cannot be set up leaves none.
  std::vector<ExitModule> modules;
  const CaConfig& config = ca_.config();
  for (std::size_t index = 0; index < config.exits.size(); ++index) {
    modules.push_back({std::to_string(index) + ":" + config.exits[index].module,
                       std::make_unique<ModuleClient>(exit_module_spec(config, index, ca_.paths().directory))});
  }
  exit_modules_ = std::move(modules);
  return *exit_modules_;
}

void Engine::ask_modules_to_shut_down() {
  if (policy_) policy_->ask_to_shut_down();
  if (!exit_modules_) return;
  for (ExitModule& module : *exit_modules_) module.client->ask_to_shut_down();
}

std::optional<protocol::Notify> Engine::notification(const storage::OutboxRecord& record) {
  protocol::Notify notify;
  notify.id = record.id;
  notify.event = record.event.event;
  if (record.event.request_id) {
    if (std::optional<storage::RequestRecord> request = store_.find_request(*record.event.request_id)) {
      try {
        notify.request = snapshot_of(ca_.config(), *request, x509::check_request(request->csr));
      } catch (const Error&) {
        // A request refused on receipt has no snapshot; the event goes without.
      }
    }
  }
  if (record.event.serial) {
    if (std::optional<storage::CertificateRecord> certificate = store_.find_certificate(*record.event.serial)) {
      notify.certificate = protocol::Notify::Certificate{certificate->serial, certificate->der};
    }
  }
  if (record.event.crl_number) {
    if (std::optional<storage::CrlRecord> crl = store_.find_crl(*record.event.crl_number)) {
      notify.crl = protocol::Notify::Crl{crl->number, std::move(crl->der), std::nullopt, 0};
    }
  }
  return notify;
}

std::vector<std::string> Engine::deliver_events() {
  // One delivery at a time per CA, so events reach each module in order; a
  // process that finds another delivering leaves it to that one. The turn
  // is the store's, so every engine sharing the store sees it.
  StoreTurn turn(store_, "outbox_delivery", process_identity());
  if (!turn.held()) return {};

  std::vector<std::string> failures;
  std::vector<ExitModule>& modules = exit_modules();
  std::vector<bool> failed(modules.size(), false);
  // Removed together at the end: one commit for the round, not one (and
  // its fdatasync) per event, which held the engine from the callers.
  std::vector<std::int64_t> delivered;
  for (const storage::OutboxRecord& record : store_.outbox()) {
    // With no exit module configured every event is delivered as it is.
    std::vector<std::string> acknowledged = modules.empty() ? std::vector<std::string>{} : store_.deliveries(record.id);
    bool everyone = true;
    for (std::size_t index = 0; index < modules.size(); ++index) {
      ExitModule& module = modules[index];
      if (std::find(acknowledged.begin(), acknowledged.end(), module.key) != acknowledged.end()) continue;
      // A module that failed in this round keeps its events, in order, for
      // the next one.
      if (failed[index]) {
        everyone = false;
        continue;
      }
      try {
        const std::vector<std::string>& wanted = module.client->events();
        if (std::find(wanted.begin(), wanted.end(), record.event.event) == wanted.end()) continue;
        module.client->notify(*notification(record));
        store_.record_delivery(record.id, module.key);
      } catch (const UndeliverableEvent& undeliverable) {
        // It can never be sent; holding it would hold every later event.
        store_.record_delivery(record.id, module.key);
        failures.push_back(std::string(undeliverable.what()) + " and was skipped for " + module.client->spec().module);
      } catch (const ModuleFailure& failure) {
        failed[index] = true;
        everyone = false;
        failures.push_back(std::string(failure.what()) + "; its events wait for the next delivery");
      }
    }
    if (everyone) delivered.push_back(record.id);
  }
  store_.remove_events(delivered);
  return failures;
}

// Issuance, step by step: receive → approve → form → sign → store →
// publish. Each step returns its value, or the disposition the request
// settled in on the way (denied, pending, failed), which ends the run.
Disposition Engine::submit(std::span<const std::uint8_t> request, const std::map<std::string, std::string>& attributes,
                           const std::string& requester, bool hold_for_officer) {
  Step<Received> received = receive(request, attributes, requester);
  if (Disposition* refused = std::get_if<Disposition>(&received)) return *refused;
  return decide(std::get<Received>(received), /*resubmission=*/false, requester, hold_for_officer);
}

Step<Engine::Received> Engine::receive(std::span<const std::uint8_t> request,
                                       const std::map<std::string, std::string>& attributes,
                                       const std::string& requester) {
  try {
    return store_received(x509::check_request(request), attributes, requester);
  } catch (const x509::RejectedRequest& rejected) {
    // It parsed, so it is kept: denied, with the reason.
    storage::NewRequest stored = new_request(attributes, requester);
    stored.csr = x509::request_der(request);
    stored.state = RequestState::kDenied;
    stored.message = std::string("rejected on receipt: ") + rejected.what();
    storage::RequestRecord record =
        store_.add_request(stored,
                                {requester, "request_denied",
                                 {{"profile", stored.profile}, {"subject", stored.subject}, {"message", stored.message}}},
                                storage::ExitEvent{"request_denied", {}, {}, {}});
    publish();
    return Disposition{record.id, record.state, std::nullopt, record.message, {}};
  }
}

Engine::Received Engine::store_received(x509::CheckedRequest checked,
                                        const std::map<std::string, std::string>& attributes,
                                        const std::string& requester) {
  storage::NewRequest stored = new_request(attributes, requester);
  stored.csr = checked.der;
  stored.subject = checked.subject;
  storage::RequestRecord record = store_.add_request(
      stored, {requester, "request_received", {{"profile", stored.profile}, {"subject", stored.subject}}});
  return Received{std::move(record), std::move(checked)};
}

storage::NewRequest Engine::new_request(const std::map<std::string, std::string>& attributes,
                                        const std::string& requester) {
  storage::NewRequest stored;
  stored.attributes = nlohmann::json::object();
  for (const auto& [name, value] : attributes) stored.attributes[name] = value;
  if (!stored.attributes.contains("profile")) stored.attributes["profile"] = kDefaultProfile;
  stored.profile = stored.attributes["profile"];
  stored.requester = requester;
  return stored;
}

Disposition Engine::enroll(std::span<const std::uint8_t> request, const std::map<std::string, std::string>& attributes,
                           const std::string& requester, bool hold_for_officer) {
  std::optional<storage::RequestRecord> earlier =
      store_.find_request_by_csr(x509::request_der(request), requester);
  // The same request under the same label (profile) is the client polling;
  // under another label it is a new request.
  auto wanted = attributes.find("profile");
  bool same_label = earlier && (wanted == attributes.end() || earlier->profile == wanted->second);
  if (same_label && earlier->state != RequestState::kRevoked && earlier->state != RequestState::kFailed) {
    return retrieve_for_client(earlier->id, requester);
  }
  return submit(request, attributes, requester, hold_for_officer);
}

storage::CertificateRecord Engine::client_certificate(std::span<const std::uint8_t> der) {
  // Asked for every call that carries a certificate: the serial is read
  // from the bytes, and the rest is the stored record's, which must be the
  // same bytes (a certificate this CA issued and checked at issuance).
  std::string serial;
  try {
    serial = x509::certificate_serial_hex(der);
  } catch (const Error&) {
    throw UntrustedClient("the client's certificate does not parse");
  }
  std::optional<storage::CertificateRecord> record = store_.find_certificate(serial);
  if (!record || !std::ranges::equal(record->der, der)) {
    throw UntrustedClient("the client's certificate was not issued by this CA");
  }
  if (record->revocation) throw UntrustedClient("the client's certificate is revoked (" + record->revocation->reason + ")");
  if (parse_rfc3339(record->not_after) < std::time(nullptr)) {
    throw UntrustedClient("the client's certificate has expired");
  }
  return *record;
}

Disposition Engine::reenroll(std::span<const std::uint8_t> request, std::span<const std::uint8_t> current,
                             const std::string& requester) {
  storage::CertificateRecord record = client_certificate(current);
  const unsigned char* cursor = record.der.data();
  ossl::Ptr<X509> certificate(d2i_X509(nullptr, &cursor, static_cast<long>(record.der.size())));
  x509::CheckedRequest checked = x509::check_request(request);
  if (X509_NAME_cmp(checked.subject_name.get(), X509_get_subject_name(certificate.get())) != 0) {
    throw x509::RejectedRequest("a re-enrollment request must carry the subject of the current certificate");
  }
  std::vector<x509::SubjectAltName> names;
  int san_index = X509_get_ext_by_NID(certificate.get(), NID_subject_alt_name, -1);
  if (san_index >= 0) {
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(certificate.get(), san_index));
    names = x509::parse_subject_alt_name({ASN1_STRING_get0_data(value), static_cast<std::size_t>(ASN1_STRING_length(value))});
  }
  std::vector<x509::SubjectAltName> requested = checked.san;
  std::ranges::sort(names);
  std::ranges::sort(requested);
  if (names != requested) {
    throw x509::RejectedRequest("a re-enrollment request must carry the subjectAltName of the current certificate");
  }
  storage::RequestRecord original = *store_.find_request(record.request_id);
  return decide(store_received(std::move(checked), {{"profile", original.profile}, {"renews", record.serial}}, requester),
                /*resubmission=*/false, requester);
}

Disposition Engine::retrieve(std::int64_t id) {
  std::optional<storage::RequestRecord> record = store_.find_request(id);
  if (!record) throw NotFound("there is no request " + std::to_string(id));
  Disposition disposition{record->id, record->state, record->serial, record->message, {}};
  if (record->serial) disposition.certificate = store_.find_certificate(*record->serial)->der;
  return disposition;
}

Disposition Engine::retrieve_for_client(std::int64_t id, const std::string& requester) {
  Disposition disposition = retrieve(id);
  if (disposition.state == RequestState::kPending) {
    store_.record_event({"request_retrieved", id, {}, {}},
                             {requester, "request_retrieved", {{"request_id", id}}});
    publish();
  }
  return disposition;
}

std::vector<storage::RequestRecord> Engine::list(std::optional<storage::RequestState> state,
                                                 const storage::RequestPage& page) {
  return store_.list_requests(state, page);
}

Disposition Engine::decide(const Received& received, bool resubmission, const std::string& actor,
                           bool hold_for_officer) {
  try {
    return approve_and_issue(received, resubmission, actor, hold_for_officer);
  } catch (const storage::StateConflict&) {
    throw;  // someone else moved the request on; nothing here to settle
  } catch (const std::exception& error) {
    // Whatever went wrong, the request does not stay "received": it waits,
    // pending, with the reason, for an administrator's resubmission. If
    // even that fails, the first failure goes on, with its own type.
    std::exception_ptr first = std::current_exception();
    try {
      return settle(received.record.id, {RequestState::kReceived}, RequestState::kPending,
                    std::string("the request could not be decided: ") + error.what() + "; resubmit it", actor,
                    "decision_failed");
    } catch (const std::exception&) {
      std::rethrow_exception(first);
    }
  }
}

Disposition Engine::approve_and_issue(const Received& received, bool resubmission, const std::string& actor,
                                      bool hold_for_officer) {
  Step<protocol::Verdict> verdict = approve(received, resubmission, actor, hold_for_officer);
  if (Disposition* settled = std::get_if<Disposition>(&verdict)) return *settled;
  const ProfileSection* profile = ca_.config().find_profile(received.record.profile);
  if (profile == nullptr) {
    return settle(received.record.id, kFrom, RequestState::kDenied,
                  "there is no profile '" + received.record.profile + "'", actor, "request_denied");
  }
  return issue(received, std::get<protocol::Verdict>(verdict), *profile, actor);
}

Disposition Engine::issue(const Received& received, const protocol::Verdict& verdict, const ProfileSection& profile,
                          const std::string& actor) {
  for (int attempt = 1;; ++attempt) {
    Step<Formed> formed = form(received, verdict, profile, actor);
    if (Disposition* settled = std::get_if<Disposition>(&formed)) return *settled;
    Step<Signed> signed_certificate = Disposition{};
    try {
      signed_certificate = sign(received, std::get<Formed>(formed), actor);
    } catch (const storage::SerialCollision&) {
      // A serial another certificate holds: formed again with a new one.
      if (attempt == kSerialAttempts) throw;
      continue;
    }
    if (Disposition* settled = std::get_if<Disposition>(&signed_certificate)) return *settled;
    Disposition issued = store(received, std::get<Formed>(formed), std::get<Signed>(signed_certificate), actor);
    publish();
    return issued;
  }
}

Step<protocol::Verdict> Engine::approve(const Received& received, bool resubmission, const std::string& actor,
                                        bool hold_for_officer) {
  const storage::RequestRecord& record = received.record;
  protocol::Verdict verdict;
  try {
    verdict = policy().verify({resubmission, snapshot_of(ca_.config(), record, received.checked)});
  } catch (const ModuleFailure& failure) {
    return settle(record.id, kFrom, RequestState::kPending, std::string(failure.what()) + "; resubmit once it is fixed",
                  actor, "policy_failed");
  }
  switch (verdict.decision) {
    case protocol::Decision::kDeny:
      return settle(record.id, kFrom, RequestState::kDenied, verdict.message, actor, "request_denied");
    case protocol::Decision::kPend:
      return settle(record.id, kFrom, RequestState::kPending, verdict.message, actor, "request_pending");
    case protocol::Decision::kIssue:
      if (hold_for_officer) {
        return settle(record.id, kFrom, RequestState::kPending,
                      "the client was not authenticated: an officer must approve the request (resubmit it)", actor,
                      "request_pending");
      }
      return verdict;
  }
  throw Error("unknown verdict");
}

Disposition Engine::settle(std::int64_t id, const std::vector<RequestState>& from, RequestState to,
                           const std::string& message, const std::string& actor, const std::string& audit_event) {
  std::optional<storage::ExitEvent> event;
  if (to == RequestState::kPending) event = storage::ExitEvent{"request_pending", id, {}, {}};
  if (to == RequestState::kDenied) event = storage::ExitEvent{"request_denied", id, {}, {}};
  store_.change_request_state(id, from, to, message, event,
                                   {actor, audit_event, {{"request_id", id}, {"message", message}}});
  if (event) publish();
  return Disposition{id, to, std::nullopt, message, {}};
}

Step<Engine::Formed> Engine::form(const Received& received, const protocol::Verdict& verdict,
                                  const ProfileSection& profile, const std::string& actor) {
  const storage::RequestRecord& record = received.record;
  const x509::CheckedRequest& checked = received.checked;
  const CaConfig& config = ca_.config();
  const protocol::CertificateProperties properties = verdict.certificate.value_or(protocol::CertificateProperties{});
  std::string notes;

  x509::CertificateSpec spec;
  if (properties.subject) {
    try {
      spec.subject = x509::parse_name(*properties.subject);
    } catch (const Error& error) {
      return settle(record.id, kFrom, RequestState::kDenied, std::string("the verdict's subject: ") + error.what(), actor,
                    "request_denied");
    }
  } else {
    spec.subject.reset(X509_NAME_dup(checked.subject_name.get()));
    if (!spec.subject) throw Error("copying the request's subject: " + ossl::last_error());
  }
  spec.subject_public_key = checked.public_key;
  spec.subject_key = checked.public_key_object.get();
  if (properties.san) {
    for (const protocol::SubjectAltName& name : *properties.san) spec.san.push_back({name.type, name.value});
  } else {
    spec.san = checked.san;
  }

  // The rules the engine never delegates.
  spec.ca = profile.ca;
  if (spec.ca) {
    long ca_path_length = X509_get_pathlen(ca_certificate_.get());
    if (ca_path_length == 0) {
      return settle(record.id, kFrom, RequestState::kDenied,
                    "the CA certificate's pathlen 0 forbids issuing CA certificates", actor, "request_denied");
    }
    std::int64_t wanted = profile.path_length.value_or(ca_path_length > 0 ? ca_path_length - 1 : 0);
    if (ca_path_length > 0 && wanted >= ca_path_length) {
      wanted = ca_path_length - 1;
      notes += "; pathlen lowered to " + std::to_string(wanted) + ", below the CA's";
    }
    spec.path_length = static_cast<int>(wanted);
  }
  spec.key_usage = key_usage_bits(profile.key_usage);
  spec.extended_key_usage = profile.extended_key_usage;
  spec.policies = profile.certificate_policies;
  // A domain-validated certificate's subject says nothing the CA has not
  // validated (BR 7.1.2.7.2): its commonName and countryName at most. What
  // else the request named is left out, and the message says so.
  bool domain_validated = std::any_of(spec.policies.begin(), spec.policies.end(),
                                      [](const x509::CertificatePolicy& policy) { return policy.oid == "2.23.140.1.2.1"; });
  if (!spec.ca && domain_validated && x509::keep_only_common_name_and_country(spec.subject.get())) {
    notes += "; the subject keeps only its commonName and countryName (domain validated, BR 7.1.2.7.2)";
  }
  // A TLS server certificate: a subscriber's, not a CA's (BR 7.1.2.7 and
  // 6.3.2 speak of subscriber certificates; a CA's key usages are BR
  // 7.1.2.10.7's: keyCertSign, cRLSign, digitalSignature and no others).
  bool server_leaf = !spec.ca && std::find(spec.extended_key_usage.begin(), spec.extended_key_usage.end(),
                                           "serverAuth") != spec.extended_key_usage.end();
  if (server_leaf && checked.key.type == "rsa") spec.key_usage |= x509::kKeyEncipherment;

  std::time_t now = std::time(nullptr);
  std::int64_t days = std::min(properties.validity_days.value_or(profile.validity_days), kMaxValidityDays);
  // The requester may ask for fewer days (attribute validity_days), never
  // for more than the profile and the verdict allow.
  if (auto asked = record.attributes.find("validity_days"); asked != record.attributes.end()) {
    std::string text = asked->is_string() ? asked->get<std::string>() : asked->dump();
    std::int64_t wanted = 0;
    auto [end, problem] = std::from_chars(text.data(), text.data() + text.size(), wanted);
    if (problem != std::errc() || end != text.data() + text.size() || wanted < 1) {
      return settle(record.id, kFrom, RequestState::kDenied,
                    "the attribute validity_days must be a whole number of days, not '" + text + "'", actor,
                    "request_denied");
    }
    if (wanted > days) {
      notes += "; validity_days=" + text + " asked for more than the " + std::to_string(days) + " days allowed";
    }
    days = std::min(days, wanted);
  }
  if (server_leaf && days > cabf_max_server_validity_days(now)) {
    days = cabf_max_server_validity_days(now);
    notes += "; validity capped at " + std::to_string(days) + " days (CA/Browser Forum)";
  }
  spec.not_before = now;
  spec.not_after = x509::validity_end(now, days);
  std::time_t ca_not_after = x509::not_after_time(ca_certificate_.get());
  if (spec.not_after > ca_not_after) {
    spec.not_after = ca_not_after;
    notes += "; validity ends with the CA certificate";
  }

  // An OCSP responder's certificate (BR 7.1.2.8) is not checked for
  // revocation (it carries id-pkix-ocsp-nocheck): no CRL, no OCSP pointer.
  bool ocsp_responder = std::find(spec.extended_key_usage.begin(), spec.extended_key_usage.end(), "OCSPSigning") !=
                        spec.extended_key_usage.end();
  if (!ocsp_responder) {
    spec.crl_urls = config.publication.crl_urls;
    spec.ocsp_urls = config.publication.ocsp_urls;
  }
  spec.ca_issuers_urls = config.publication.ca_issuers_urls;
  Overrides overrides = Overrides::from_json(record.overrides);
  for (const protocol::Extension& extension : properties.extensions_add) {
    spec.extra_extensions.push_back(from_protocol(extension));
  }
  spec.extra_extensions.insert(spec.extra_extensions.end(), overrides.add.begin(), overrides.add.end());
  spec.removed_extensions = properties.extensions_remove;
  spec.removed_extensions.insert(spec.removed_extensions.end(), overrides.remove.begin(), overrides.remove.end());

  ossl::Ptr<NAME_CONSTRAINTS> constraints(
      static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(ca_certificate_.get(), NID_name_constraints, nullptr, nullptr)));
  x509::IssuerSpec issuer{X509_get_subject_name(ca_certificate_.get()), ca_public_key_, ca_key_identifier_,
                          config.ca.signature, constraints.get(), ca_public_key_object_.get()};
  std::string message = verdict.message + notes;

  spec.serial = random_serial(ca_.token());
  try {
    return Formed{x509::prepare_certificate(spec, issuer), message, x509::format_name(spec.subject.get()),
                  spec.not_before, spec.not_after};
  } catch (const x509::LintRefusal& refusal) {
    // Nothing the requester did wrong, maybe: the profile, a verdict or an
    // edit made something no standard allows. An officer looks.
    return settle(record.id, kFrom, RequestState::kPending,
                  std::string("the certificate was not signed: ") + refusal.what() + "; fix the cause and resubmit",
                  actor, "lint_refused");
  } catch (const Error& error) {
    return settle(record.id, kFrom, RequestState::kDenied, std::string("the certificate cannot be issued: ") + error.what(),
                  actor, "request_denied");
  }
}

Step<Engine::Signed> Engine::sign(const Received& received, Formed& formed, const std::string& actor) {
  // Throws SerialCollision when the serial is taken. The intent is durable before the token signs: the serial and the
  // exact TBS. A signature that never reaches the database is then found
  // at the next start (report_unrecorded_signatures).
  std::string serial = formed.certificate.serial();
  std::span<const std::uint8_t> tbs = formed.certificate.to_be_signed();
  store_.reserve_serial({serial, received.record.id, {tbs.begin(), tbs.end()}, process_identity(), {}});
  const CaConfig& config = ca_.config();
  try {
    std::vector<std::uint8_t> der = std::move(formed.certificate).sign([&](std::span<const std::uint8_t> to_sign) {
      return ca_.token().sign(config.ca.key, config.ca.signature, to_sign);
    });
    fault_point("after-signing");
    return Signed{serial, std::move(der)};
  } catch (const Error& error) {
    store_.release_serial(serial);
    return settle(received.record.id, kFrom, RequestState::kFailed, std::string("signing failed: ") + error.what(), actor,
                  "issuance_failed");
  }
}

Disposition Engine::store(const Received& received, const Formed& formed, const Signed& signed_certificate,
                          const std::string& actor) {
  storage::CertificateRecord stored{signed_certificate.serial, received.record.id, signed_certificate.der,
                                    rfc3339_utc(formed.not_before), rfc3339_utc(formed.not_after), std::nullopt};
  store_.issue_certificate(stored, kFrom, formed.message, {"certificate_issued", received.record.id, stored.serial, {}},
                                {actor,
                                 "certificate_issued",
                                 {{"request_id", received.record.id},
                                  {"serial", stored.serial},
                                  {"subject", formed.subject},
                                  {"profile", received.record.profile},
                                  {"certificate_sha256", x509::sha256_fingerprint(stored.der)}}});
  return Disposition{received.record.id, RequestState::kIssued, stored.serial, formed.message, stored.der};
}

void Engine::publish() {
  if (publisher_) publisher_();
}

void Engine::report_unrecorded_signatures() {
  for (const storage::SigningIntent& intent : store_.signing_intents()) {
    // Another process is signing it now, or one on another host (a shared
    // store) may be: that process stores or reports its own.
    std::optional<bool> running = process_running(intent.owner);
    if (!running || *running) continue;
    std::string message = "the token may have signed serial " + intent.serial + " for this request at " +
                          intent.reserved_at +
                          " but the certificate was never recorded (custos stopped in between; the audit log "
                          "keeps the serial and the digest of what was to be signed); resubmit the request";
    try {
      store_.settle_signing_intent(
          intent.serial, {RequestState::kReceived}, RequestState::kPending, message,
          {"engine",
           "unrecorded_signature",
           {{"request_id", intent.request_id},
            {"serial", intent.serial},
            {"reserved_at", intent.reserved_at},
            {"tbs_sha256", to_hex(ossl::sha_digest("SHA256", intent.tbs))}}});
    } catch (const storage::StateConflict&) {
      continue;  // another process starting at the same time reported it
    }
    std::cerr << "custos: warning: request " << intent.request_id << ": " << message << "\n";
  }
}

storage::RequestRecord Engine::pending_request(std::int64_t id) {
  std::optional<storage::RequestRecord> record = store_.find_request(id);
  if (!record) throw NotFound("there is no request " + std::to_string(id));
  if (record->state != RequestState::kPending) {
    throw Error("request " + std::to_string(id) + " is " + std::string(storage::request_state_name(record->state)) +
                "; only a pending request can be changed");
  }
  return *record;
}

Disposition Engine::resubmit(std::int64_t id, const std::string& actor) {
  std::optional<storage::RequestRecord> record = store_.find_request(id);
  if (!record) throw NotFound("there is no request " + std::to_string(id));
  // A request left "received" by an engine that died deciding it may be
  // taken up once it has been still for a while; a live one may not.
  bool stale = record->state == RequestState::kReceived &&
               std::time(nullptr) - parse_rfc3339(record->updated_at) > kStaleReceivedSeconds;
  std::vector<RequestState> claimable = {RequestState::kPending, RequestState::kDenied, RequestState::kFailed};
  if (stale) claimable.push_back(RequestState::kReceived);
  if (std::find(claimable.begin(), claimable.end(), record->state) == claimable.end()) {
    throw Error("request " + std::to_string(id) + " is " + std::string(storage::request_state_name(record->state)) +
                "; only a pending, denied or failed request can be resubmitted");
  }
  std::optional<x509::CheckedRequest> checked;
  try {
    checked = x509::check_request(record->csr);
  } catch (const Error& error) {
    throw Error("request " + std::to_string(id) + " cannot be resubmitted: " + error.what());
  }
  // Claim it: from here no deny, edit or second resubmission can act on it,
  // and one that came first is in what is read back.
  try {
    store_.change_request_state(id, claimable, RequestState::kReceived, "resubmitted by an administrator",
                                     std::nullopt, {actor, "request_resubmitted", {{"request_id", id}}});
  } catch (const storage::StateConflict& conflict) {
    throw Error(std::string("request ") + std::to_string(id) + " changed meanwhile: " + conflict.what());
  }
  // Read again after the claim: an edit made before it is in the record.
  return decide(Received{*store_.find_request(id), std::move(*checked)}, /*resubmission=*/true, actor);
}

void Engine::deny(std::int64_t id, const std::string& message, const std::string& actor) {
  pending_request(id);
  settle(id, {RequestState::kPending}, RequestState::kDenied, message.empty() ? "denied by an administrator" : message,
         actor, "request_denied");
}

void Engine::set_attribute(std::int64_t id, const std::string& name, const std::string& value,
                           const std::string& actor) {
  storage::RequestRecord record = pending_request(id);
  if (name.empty()) throw Error("an attribute needs a name: KEY=VALUE");
  if (name == "profile" && ca_.config().find_profile(value) == nullptr) {
    throw Error("there is no profile '" + value + "'");
  }
  record.attributes[name] = value;
  store_.edit_pending_request(id, record.attributes, record.attributes.value("profile", record.profile),
                                   record.overrides,
                                   {actor, "request_attribute_set", {{"request_id", id}, {name, value}}});
}

void Engine::set_extension(std::int64_t id, const std::string& oid, const std::vector<std::uint8_t>& der,
                           bool critical, const std::string& actor) {
  storage::RequestRecord record = pending_request(id);
  std::string dotted = dotted_oid(oid);
  // The value must be one DER element, or the certificate would not parse.
  const unsigned char* cursor = der.data();
  long length = 0;
  int tag = 0;
  int object_class = 0;
  if (der.empty() || (ASN1_get_object(&cursor, &length, &tag, &object_class, static_cast<long>(der.size())) & 0x80) != 0 ||
      cursor + length != der.data() + der.size()) {
    throw Error("the extension value is not one DER element");
  }
  Overrides overrides = Overrides::from_json(record.overrides);
  overrides.drop(dotted);
  overrides.add.push_back({dotted, critical, der});
  store_.edit_pending_request(
      id, record.attributes, record.profile, overrides.to_json(),
      {actor, "request_extension_set", {{"request_id", id}, {"oid", dotted}, {"critical", critical}, {"der", to_hex(der)}}});
}

void Engine::remove_extension(std::int64_t id, const std::string& oid, const std::string& actor) {
  storage::RequestRecord record = pending_request(id);
  std::string dotted = dotted_oid(oid);
  Overrides overrides = Overrides::from_json(record.overrides);
  overrides.drop(dotted);
  overrides.remove.push_back(dotted);
  store_.edit_pending_request(id, record.attributes, record.profile, overrides.to_json(),
                                   {actor, "request_extension_removed", {{"request_id", id}, {"oid", dotted}}});
}

void Engine::revoke(const std::string& serial, const std::string& reason, std::optional<std::time_t> invalidity_date,
                    const std::string& actor) {
  revoke_serials({serial}, reason, invalidity_date, actor, /*count_already_revoked=*/false);
}

RevocationTally Engine::revoke_batch(const std::vector<std::string>& serials, const std::string& reason,
                                     std::optional<std::time_t> invalidity_date, const std::string& actor) {
  return revoke_serials(serials, reason, invalidity_date, actor, /*count_already_revoked=*/true);
}

RevocationTally Engine::revoke_serials(const std::vector<std::string>& serial_texts, const std::string& reason_name,
                                       std::optional<std::time_t> invalidity_date, const std::string& actor,
                                       bool count_already_revoked) {
  std::optional<x509::RevocationReason> reason = x509::parse_revocation_reason(reason_name);
  if (!reason || *reason == x509::RevocationReason::kRemoveFromCrl) {
    throw Error("'" + reason_name +
                "' is not a revocation reason: use unspecified, keyCompromise, cACompromise, affiliationChanged, "
                "superseded, cessationOfOperation, certificateHold, privilegeWithdrawn or aACompromise");
  }
  storage::Revocation revocation{now_rfc3339(), std::string(x509::revocation_reason_name(*reason)), std::nullopt};
  if (invalidity_date) revocation.invalidity_date = rfc3339_utc(*invalidity_date);
  RevocationTally tally;
  std::vector<std::string> serials;
  std::set<std::string> named;
  for (const std::string& serial_text : serial_texts) {
    std::string serial = normalize_serial(serial_text);
    if (named.insert(serial).second) {
      serials.push_back(std::move(serial));
    } else {
      ++tally.already_revoked;
    }
  }
  // Decided as the store reads each certificate, in the transaction that
  // changes it: one pass over the rows, and nothing changes in between.
  store_.change_revocations(serials, [&](const std::string& serial,
                                         const std::optional<storage::RevocationState>& state)
                                         -> std::optional<storage::RevocationChange> {
    if (!state) throw NotFound("there is no certificate with serial " + serial + " issued by this CA");
    if (state->reason) {
      if (count_already_revoked && *state->reason == revocation.reason) {
        ++tally.already_revoked;
        return std::nullopt;
      }
      // Only a hold may become a final revocation.
      if (*state->reason != "certificateHold" || *reason == x509::RevocationReason::kCertificateHold) {
        throw Error("the certificate " + serial + " is already revoked (" + *state->reason + ")");
      }
    }
    nlohmann::json detail = {{"serial", serial}, {"reason", revocation.reason}};
    if (revocation.invalidity_date) detail["invalidity_date"] = *revocation.invalidity_date;
    ++tally.revoked;
    return storage::RevocationChange{serial, state->reason, revocation,
                                     {"certificate_revoked", state->request_id, serial, {}},
                                     {actor, "certificate_revoked", detail}};
  });
  if (tally.revoked > 0) publish();
  return tally;
}

nlohmann::json CertificateStatus::to_json() const {
  nlohmann::json json = {{"serial", serial}, {"status", status}};
  if (!record) return json;
  json["request_id"] = record->request_id;
  json["subject"] = subject;
  json["not_before"] = record->not_before;
  json["not_after"] = record->not_after;
  if (record->revocation) {
    json["revoked_at"] = record->revocation->revoked_at;
    json["revocation_reason"] = record->revocation->reason;
    if (record->revocation->invalidity_date) json["invalidity_date"] = *record->revocation->invalidity_date;
  }
  return json;
}

CertificateStatus Engine::certificate_status(const std::string& serial_text) {
  CertificateStatus status{normalize_serial(serial_text), "unknown", std::nullopt, ""};
  status.record = store_.find_certificate(status.serial);
  if (!status.record) return status;
  const unsigned char* cursor = status.record->der.data();
  ossl::Ptr<X509> certificate(d2i_X509(nullptr, &cursor, static_cast<long>(status.record->der.size())));
  if (certificate) status.subject = x509::format_name(X509_get_subject_name(certificate.get()));
  status.status = status.record->revocation                                        ? "revoked"
                  : parse_rfc3339(status.record->not_after) < std::time(nullptr) ? "expired"
                                                                                   : "valid";
  return status;
}

void Engine::unrevoke(const std::string& serial_text, const std::string& actor) {
  std::string serial = normalize_serial(serial_text);
  std::optional<storage::CertificateRecord> certificate = store_.find_certificate(serial);
  if (!certificate) throw NotFound("there is no certificate with serial " + serial + " issued by this CA");
  if (!certificate->revocation || certificate->revocation->reason != "certificateHold") {
    throw Error("only a certificate on hold (certificateHold) can be unrevoked; " + serial + " is " +
                (certificate->revocation ? "revoked (" + certificate->revocation->reason + ")" : "not revoked"));
  }
  store_.set_revocations({{serial, std::string("certificateHold"), std::nullopt,
                                {"certificate_revoked", certificate->request_id, serial, {}},
                                {actor, "certificate_unrevoked", {{"serial", serial}}}}});
  publish();
}

PublishedCrl Engine::publish_crl(const std::string& actor) {
  const CaConfig& config = ca_.config();
  std::time_t now = std::time(nullptr);
  x509::CrlSpec spec;
  spec.issuer = X509_get_subject_name(ca_certificate_.get());
  spec.issuer_public_key = ca_public_key_;
  spec.issuer_key_identifier = ca_key_identifier_;
  spec.scheme = config.ca.signature;
  spec.number = store_.last_crl_number() + 1;
  spec.this_update = now;
  spec.next_update = now + static_cast<std::time_t>(config.publication.crl_next_update_hours) * 3600;
  spec.tls = config.issues_tls_server_certificates();
  // The entries go into the CRL as the store reads them, none held beside it.
  std::size_t entries = 0;
  spec.revoked = [&](const std::function<void(const x509::RevokedEntry&)>& add) {
    x509::RevokedEntry entry;
    store_.for_each_revoked_certificate(rfc3339_utc(now), [&](const storage::RevokedCertificate& certificate) {
      entry.serial = serial_bytes(certificate.serial);
      entry.revoked_at = parse_rfc3339(certificate.revocation.revoked_at);
      entry.reason = x509::parse_revocation_reason(certificate.revocation.reason).value_or(x509::RevocationReason::kUnspecified);
      entry.invalidity_date.reset();
      if (certificate.revocation.invalidity_date) entry.invalidity_date = parse_rfc3339(*certificate.revocation.invalidity_date);
      add(entry);
      ++entries;
    });
  };
  storage::CrlRecord record{spec.number, rfc3339_utc(spec.this_update), rfc3339_utc(spec.next_update),
                            x509::make_crl(spec, [&](std::span<const std::uint8_t> tbs) {
                              return ca_.token().sign(config.ca.key, config.ca.signature, tbs);
                            })};
  store_.add_crl(record, {"crl_issued", {}, {}, spec.number},
                 {actor, "crl_issued", {{"number", spec.number}, {"entries", entries}}});
  PublishedCrl published{spec.number, std::move(record.der), ca_.paths().directory / config.publication.crl_file};
  write_file_atomic(published.file, published.der);
  publish();
  return published;
}

std::optional<storage::CrlRecord> Engine::find_crl(std::int64_t number) { return store_.find_crl(number); }

storage::CrlRecord Engine::current_crl(const std::string& actor) {
  std::optional<storage::CrlRecord> latest = store_.latest_crl();
  if (!latest || parse_rfc3339(latest->next_update) <= std::time(nullptr)) {
    publish_crl(actor);
    latest = store_.latest_crl();
  }
  return *latest;
}

}  // namespace custos::engine
