// The request flow of ARCHITECTURE.md on an open CA, and its administration:
//
//   receive  check the PKCS#10 request and store it (received, or denied
//            with the reason when it parsed but failed a check) before
//            anything else;
//   approve  ask the policy module, in its own process, for a verdict;
//            a module that fails leaves the request pending with why;
//   form     build the certificate from the profile, the verdict and the
//            administrator's edits, enforce the rules the engine never
//            delegates, have the token sign it, verify it;
//   publish  store certificate, state, outbox event and audit entry in one
//            transaction.
//
//   Engine engine(*ca);
//   Disposition d = engine.submit(csr_bytes, {{"profile", "server"}}, "cli uid=0");
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "appliance/engine/authority.h"
#include "appliance/engine/module_client.h"
#include "appliance/x509/certificate.h"
#include "appliance/x509/crl.h"
#include "appliance/x509/csr.h"
#include "storage/store.h"

namespace custos::engine {

// What a client learns of its request (the disposition of the README).
struct Disposition {
  std::int64_t request_id = 0;
  storage::RequestState state = storage::RequestState::kReceived;
  std::optional<std::string> serial;
  std::string message;
  std::vector<std::uint8_t> certificate;  // DER, once issued

  nlohmann::json to_json() const;
};

// A request or certificate that does not exist.
class NotFound : public Error {
 public:
  CUSTOS_ERROR_TYPE(NotFound)
  using Error::Error;
};

// A TLS client certificate that does not identify anyone: not issued by
// this CA, revoked or expired.
class UntrustedClient : public Error {
 public:
  CUSTOS_ERROR_TYPE(UntrustedClient)
  using Error::Error;
};

// What revoke_batch did.
struct RevocationTally {
  std::size_t revoked = 0;
  std::size_t already_revoked = 0;  // for the same reason, or named before in the batch
  nlohmann::json to_json() const { return {{"revoked", revoked}, {"already_revoked", already_revoked}}; }
};

// One certificate as `custos admin show` reports it (IsValidCertificate):
// valid, revoked (with when and why), expired, or unknown to this CA.
struct CertificateStatus {
  std::string serial;  // normalised upper-case hex
  std::string status;  // valid | revoked | expired | unknown
  std::optional<storage::CertificateRecord> record;
  std::string subject;  // RFC 4514, when known
  nlohmann::json to_json() const;
};

struct PublishedCrl {
  std::int64_t number = 0;
  std::vector<std::uint8_t> der;
  std::filesystem::path file;  // where it was written (DER) in the CA directory
};

// What `custos backup` made: a directory that is a CA directory of its own
// (custos.toml, ca.pem, chain.pem, ocsp/, and the database copied online,
// still encrypted to the same token's key), checked by opening the copy.
struct BackupReport {
  std::filesystem::path directory;
  std::vector<std::string> files;  // relative to `directory`
  std::int64_t audit_entries = 0;  // in the copy, its chain checked
  nlohmann::json to_json() const;
};

// What `custos audit verify` reports. `first_bad_entry` is set when the
// log does not hold: the first entry whose hash breaks the chain, or the
// first after the last checkpoint that still matches when a checkpoint's
// signature fails or no longer matches the chain (the log was rewritten or
// cut short).
struct AuditVerification {
  std::int64_t entries = 0;
  std::int64_t checkpoints = 0;
  // The newest checkpoint that holds: its sequence number, the entry it
  // signs, when, and its fingerprint (SHA-256 of its signature, hex) —
  // what an auditor notes elsewhere to pass as --expect later.
  std::optional<std::int64_t> last_checkpoint;
  std::optional<std::int64_t> last_signed_entry;
  std::optional<std::string> last_signed_at;
  std::optional<std::string> last_fingerprint;
  std::optional<std::int64_t> first_bad_entry;
  std::string problem;  // one line, when first_bad_entry is set
  bool holds() const { return !first_bad_entry.has_value(); }
  nlohmann::json to_json() const;
};

// A checkpoint an auditor noted earlier ("SEQUENCE:FINGERPRINT"): verify
// fails unless it is still there, unchanged. Someone holding the database
// key can delete every checkpoint and rewrite the log, and the token then
// signs the rewrite; an expectation noted outside the CA host catches it.
struct AuditExpectation {
  std::int64_t sequence = 0;
  std::string fingerprint;
  static AuditExpectation parse(std::string_view text);  // UsageError when malformed
};

// A step of issuance: its value, or the disposition the request settled in
// on the way (denied, pending, failed), which ends the run.
template <typename T>
using Step = std::variant<T, Disposition>;

// The last half of issuance's last step: what happens once the outbox
// holds something new. The CLI delivers it to the exit modules at once
// (deliver_events); custosd wakes its delivery thread. Empty: the events
// wait in the outbox for whoever delivers next.
using Publisher = std::function<void()>;

// The key that signs OCSP responses: the CA's, or a delegated responder's
// with its certificate.
struct OcspSigner {
  hsm::KeyRef key;
  ossl::Ptr<X509> certificate;  // null when the CA signs

  OcspSigner copy() const;
  // A delegated signer's certificate has a third of its life left or less.
  bool due_for_renewal(std::time_t now) const;
};

class Engine {
 public:
  // Needs the CA certificate installed. The policy module starts at the
  // first question. The engine works on `connection` when given (custosd
  // runs several engines at once, each on a connection of its own from
  // CertificateAuthority::open_another_connection), else on ca.store().
  explicit Engine(CertificateAuthority& ca, Publisher publisher = {},
                  std::unique_ptr<storage::Store> connection = nullptr);
  // The policy module to ask instead of one the first question starts:
  // made from this CA's configuration (policy_module_spec) and started
  // early (ModuleClient::prestart) by a command that will ask it.
  void use_policy(std::unique_ptr<ModuleClient> policy) { policy_ = std::move(policy); }

  // With `hold_for_officer` (an unauthenticated client whose profile
  // pends such requests), a verdict to issue leaves the request pending
  // instead, until an officer resubmits it.
  Disposition submit(std::span<const std::uint8_t> request, const std::map<std::string, std::string>& attributes,
                     const std::string& requester, bool hold_for_officer = false);
  // submit() for a client that retries (EST): the same requester sending
  // the same request again gets the request it made before, pending or
  // decided, rather than a second one.
  Disposition enroll(std::span<const std::uint8_t> request, const std::map<std::string, std::string>& attributes,
                     const std::string& requester, bool hold_for_officer);
  // The record of a client's TLS certificate (DER), which must be one this
  // CA issued, byte for byte, unrevoked and unexpired; throws
  // UntrustedClient otherwise. Who authenticates with a certificate is
  // checked here, so a revoked one stops working at once.
  storage::CertificateRecord client_certificate(std::span<const std::uint8_t> der);
  // EST re-enrollment: `current` (DER) is the certificate the client
  // authenticated with (client_certificate()). The request must carry its
  // subject and subjectAltName; the new certificate is issued under the
  // same profile.
  Disposition reenroll(std::span<const std::uint8_t> request, std::span<const std::uint8_t> current,
                       const std::string& requester);
  Disposition retrieve(std::int64_t id);
  // The request as stored, read through this engine's connection.
  std::optional<storage::RequestRecord> find_request(std::int64_t id) { return store_.find_request(id); }
  // retrieve() on behalf of a client (RetrievePending): a pending request's
  // exit modules hear that its requester asked (request_retrieved).
  Disposition retrieve_for_client(std::int64_t id, const std::string& requester);
  std::vector<storage::RequestRecord> list(std::optional<storage::RequestState> state, const storage::RequestPage& page);

  // Administration. Each refuses what makes no sense with a clear Error.
  // resubmit takes a pending, denied or failed request (or one left
  // "received" for ten minutes by an engine that died deciding it).
  Disposition resubmit(std::int64_t id, const std::string& actor);
  void deny(std::int64_t id, const std::string& message, const std::string& actor);
  void set_attribute(std::int64_t id, const std::string& name, const std::string& value, const std::string& actor);
  void set_extension(std::int64_t id, const std::string& oid, const std::vector<std::uint8_t>& der, bool critical,
                     const std::string& actor);
  void remove_extension(std::int64_t id, const std::string& oid, const std::string& actor);
  void revoke(const std::string& serial, const std::string& reason, std::optional<std::time_t> invalidity_date,
              const std::string& actor);
  // Bulk revocation (an incident's list): every serial revoked in one
  // transaction, with an audit entry and an exit event each. A serial
  // already revoked for this reason, or named twice, is counted and left
  // alone, so a run that stopped can be run again whole; any other
  // refusal (an unknown serial, another reason) names the serial and
  // revokes none of the batch.
  RevocationTally revoke_batch(const std::vector<std::string>& serials, const std::string& reason,
                               std::optional<std::time_t> invalidity_date, const std::string& actor);
  void unrevoke(const std::string& serial, const std::string& actor);
  // A certificate's status by serial (hex, colons allowed).
  CertificateStatus certificate_status(const std::string& serial);
  PublishedCrl publish_crl(const std::string& actor);
  // The newest CRL, publishing one first when there is none or it is past
  // its nextUpdate.
  storage::CrlRecord current_crl(const std::string& actor);
  std::optional<storage::CrlRecord> find_crl(std::int64_t number);

  // OCSP (RFC 6960): answers a DER OCSPRequest with a DER OCSPResponse
  // signed on the token, by the CA key or, with [ocsp] signer =
  // "delegated", by an OCSP signing key of its own whose certificate the
  // CA issues and renews (ocsp/ in the CA directory). A malformed request
  // gets malformedRequest, one about another CA's certificate
  // unauthorized. `this_update` is when it was made, `next_update` when
  // it goes stale.
  std::vector<std::uint8_t> answer_ocsp(std::span<const std::uint8_t> request, std::time_t& this_update,
                                        std::time_t& next_update);
  // The OCSP signer in force, when it is settled (known and not due for
  // renewal): what StatusResponder signs with.
  std::optional<OcspSigner> settled_ocsp_signer() const;

  // The audit log's checkpoints (audit_checkpoints.cpp). `checkpoint_audit`
  // signs the chain's newest entry with the CA key on the token, with the
  // checkpoint's sequence number and its predecessor's fingerprint, unless
  // a checkpoint already covers it — and refuses (throws) when the entries
  // since the last checkpoint, or that checkpoint, do not hold: the token
  // never signs over a broken log. `verify_audit` walks the chain and
  // checks every checkpoint with the CA certificate's public key.
  void checkpoint_audit();
  AuditVerification verify_audit(const std::optional<AuditExpectation>& expect = std::nullopt);

  // The operator's backup (backup.cpp) into `directory`, which must not
  // exist; its parent must. Audited and checkpointed first, so the copy
  // holds the record of itself; removed again (and `backup_failed`
  // audited) if anything fails. Written through the directory's open
  // descriptor, never its path (common/files.h NewPrivateDirectory), and
  // with `owner` handed to that uid at the end.
  BackupReport backup(const std::filesystem::path& directory, const std::string& actor,
                      std::optional<unsigned> owner = std::nullopt);

  // Delivers the outbox to the exit modules: each event, in order, to each
  // module that asked for it and has not acknowledged it; an event leaves
  // the outbox once all have. A module that fails keeps its events for the
  // next delivery (at least once: the event id is stable). Returns one line
  // per module that failed.
  std::vector<std::string> deliver_events();
  // Sends every running module its shutdown without waiting for it to end
  // (ModuleClient::ask_to_shut_down): a command asks before its last work
  // (the audit checkpoint), and the engine's end reaps each module, killing
  // one that has not ended within half a second. A later question starts
  // the module again.
  void ask_modules_to_shut_down();

  const X509* ca_certificate() const { return ca_certificate_.get(); }

 private:
  // Step 1's value: the request as stored, and as checked (parsed once).
  struct Received {
    storage::RequestRecord record;
    x509::CheckedRequest checked;
  };
  // Step 3's value: the to-be-signed certificate, built and checked, with
  // what the requester will read.
  struct Formed {
    x509::UnsignedCertificate certificate;
    std::string message;
    std::string subject;  // RFC 4514, for the audit log
    std::time_t not_before = 0;
    std::time_t not_after = 0;
  };
  struct Signed {
    std::string serial;
    std::vector<std::uint8_t> der;
  };

  // The steps, in order (engine.cpp).
  Step<Received> receive(std::span<const std::uint8_t> request, const std::map<std::string, std::string>& attributes,
                         const std::string& requester);
  Received store_received(x509::CheckedRequest checked, const std::map<std::string, std::string>& attributes,
                          const std::string& requester);
  static storage::NewRequest new_request(const std::map<std::string, std::string>& attributes,
                                         const std::string& requester);
  // Steps 2 to 4 for a received request; whatever fails leaves it pending
  // with the reason.
  Disposition decide(const Received& received, bool resubmission, const std::string& actor,
                     bool hold_for_officer = false);
  Disposition approve_and_issue(const Received& received, bool resubmission, const std::string& actor,
                                bool hold_for_officer);
  Step<protocol::Verdict> approve(const Received& received, bool resubmission, const std::string& actor,
                                  bool hold_for_officer);
  // Form, sign, store, publish; a serial collision forms again.
  Disposition issue(const Received& received, const protocol::Verdict& verdict, const ProfileSection& profile,
                    const std::string& actor);
  Step<Formed> form(const Received& received, const protocol::Verdict& verdict, const ProfileSection& profile,
                    const std::string& actor);
  Step<Signed> sign(const Received& received, Formed& formed, const std::string& actor);
  Disposition store(const Received& received, const Formed& formed, const Signed& signed_certificate,
                    const std::string& actor);
  void publish();
  // revoke() and revoke_batch(): with `count_already_revoked`, a serial
  // already revoked for this reason is counted; without, it is an Error.
  RevocationTally revoke_serials(const std::vector<std::string>& serial_texts, const std::string& reason,
                                 std::optional<std::time_t> invalidity_date, const std::string& actor,
                                 bool count_already_revoked);
  // Every signing intent no certificate cleared (a crash between the
  // token's signature and the database): its request waits, pending, with
  // the serial in its message, and the audit log says unrecorded_signature.
  void report_unrecorded_signatures();
  const OcspSigner& ocsp_signer();
  OcspSigner make_ocsp_signer();
  void sign_next_checkpoint();
  Disposition settle(std::int64_t id, const std::vector<storage::RequestState>& from, storage::RequestState to,
                     const std::string& message, const std::string& actor, const std::string& audit_event);
  storage::RequestRecord pending_request(std::int64_t id);
  ModuleClient& policy();
  struct ExitModule {
    std::string key;  // stable for the delivery records: its place in custos.toml and its module
    std::unique_ptr<ModuleClient> client;
  };
  std::vector<ExitModule>& exit_modules();
  std::optional<protocol::Notify> notification(const storage::OutboxRecord& record);

  CertificateAuthority& ca_;
  Publisher publisher_;
  std::unique_ptr<storage::Store> own_connection_;
  storage::Store& store_;  // own_connection_, or the CA's
  ossl::Ptr<X509> ca_certificate_;
  std::vector<std::uint8_t> ca_public_key_;
  ossl::Ptr<EVP_PKEY> ca_public_key_object_;  // ca_public_key_ decoded, once
  std::vector<std::uint8_t> ca_key_identifier_;
  std::unique_ptr<ModuleClient> policy_;
  std::optional<std::vector<ExitModule>> exit_modules_;
  std::optional<OcspSigner> ocsp_signer_;
};

// The longest validity the CA/Browser Forum allows a TLS server certificate
// issued at `when`: 398 days, 200 from 2026-03-15, 100 from 2027-03-15,
// 47 from 2029-03-15.
int cabf_max_server_validity_days(std::time_t when);

// A serial as the CLI takes it (hex, any case, colons allowed) in the form
// the store keeps (upper-case hex, as OpenSSL prints it).
std::string normalize_serial(const std::string& text);

}  // namespace custos::engine
