// The request flow of DESIGN.md on an open CA, and its administration:
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
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "appliance/engine/authority.h"
#include "appliance/engine/module_client.h"
#include "appliance/x509/crl.h"
#include "appliance/x509/csr.h"
#include "storage/store.h"

namespace custos::engine {

// What a client learns of its request (CONTRACT.md's disposition).
struct Disposition {
  std::int64_t request_id = 0;
  storage::RequestState state = storage::RequestState::kReceived;
  std::optional<std::string> serial;
  std::string message;
  std::vector<std::uint8_t> certificate;  // DER, once issued

  nlohmann::json to_json() const;
};

struct PublishedCrl {
  std::int64_t number = 0;
  std::vector<std::uint8_t> der;
  std::string pem;
  std::filesystem::path file;  // where it was written (DER) in the CA directory
};

class Engine {
 public:
  // Needs the CA certificate installed. The policy module starts at the
  // first question.
  explicit Engine(CertificateAuthority& ca);

  Disposition submit(std::span<const std::uint8_t> request, const std::map<std::string, std::string>& attributes,
                     const std::string& requester);
  Disposition retrieve(std::int64_t id);
  // retrieve() on behalf of a client (RetrievePending): a pending request's
  // exit modules hear that its requester asked (request_retrieved).
  Disposition retrieve_for_client(std::int64_t id, const std::string& requester);
  std::vector<storage::RequestRecord> list(std::optional<storage::RequestState> state);

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
  void unrevoke(const std::string& serial, const std::string& actor);
  PublishedCrl publish_crl(const std::string& actor);

  // Delivers the outbox to the exit modules: each event, in order, to each
  // module that asked for it and has not acknowledged it; an event leaves
  // the outbox once all have. A module that fails keeps its events for the
  // next delivery (at least once: the event id is stable). Returns one line
  // per module that failed.
  std::vector<std::string> deliver_events();

  const X509* ca_certificate() const { return ca_certificate_.get(); }

 private:
  Disposition decide(const storage::RequestRecord& record, const x509::CheckedRequest& checked, bool resubmission,
                     const std::string& actor);
  Disposition ask_and_act(const storage::RequestRecord& record, const x509::CheckedRequest& checked,
                          bool resubmission, const std::string& actor);
  Disposition issue(const storage::RequestRecord& record, const x509::CheckedRequest& checked,
                    const protocol::Verdict& verdict, const std::vector<storage::RequestState>& from,
                    const std::string& actor);
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
  ossl::Ptr<X509> ca_certificate_;
  std::vector<std::uint8_t> ca_public_key_;
  std::vector<std::uint8_t> ca_key_identifier_;
  std::unique_ptr<ModuleClient> policy_;
  std::optional<std::vector<ExitModule>> exit_modules_;
};

// The longest validity the CA/Browser Forum allows a TLS server certificate
// issued at `when`: 398 days, 200 from 2026-03-15, 100 from 2027-03-15,
// 47 from 2029-03-15.
int cabf_max_server_validity_days(std::time_t when);

// A serial as the CLI takes it (hex, any case, colons allowed) in the form
// the store keeps (upper-case hex, as OpenSSL prints it).
std::string normalize_serial(const std::string& text);

}  // namespace custos::engine
