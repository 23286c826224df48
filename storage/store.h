// The store the engine keeps its records in. `Store` is the interface the
// engine codes against, so that a PostgreSQL backend can be added beside
// the SQLCipher one without touching the engine.
//
//   auto store = SqlCipherStore::create(dir / "custos.db", key, database_id);
//   store->append_audit({.actor = "cli", .event = "ca_created", .detail = {...}});
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/secure_buffer.h"

namespace custos::storage {

enum class RequestState { kReceived, kPending, kIssued, kDenied, kRevoked, kFailed };
std::string_view request_state_name(RequestState state);  // "received", "pending", …
std::optional<RequestState> parse_request_state(std::string_view name);

struct AuditEvent {
  std::string actor;      // who: "cli:uid=0", later a role and identity
  std::string event;      // what: "ca_created", "request_received", …
  nlohmann::json detail;  // the facts, never a secret
};

struct AuditRecord {
  std::int64_t id = 0;
  std::string at;  // RFC 3339, UTC
  std::string actor;
  std::string event;
  std::string detail;  // JSON text as stored
  // Over the previous entry's hash and this entry's fields (audit.h); the
  // previous hash is not stored again with each entry, it is the hash of
  // the row before.
  std::vector<std::uint8_t> hash;
};

// A signature by the CA key on the token over the audit chain up to one
// entry (engine/audit_checkpoints.cpp): with it, rewriting the log needs
// the token, not only the database key.
struct AuditCheckpoint {
  std::int64_t id = 0;                    // its sequence number: 1, 2, …
  std::int64_t audit_id = 0;              // the last entry it covers
  std::vector<std::uint8_t> audit_hash;   // that entry's hash
  std::string signed_at;                  // RFC 3339, UTC
  std::string scheme;                     // the signature scheme's name
  std::vector<std::uint8_t> signature;
};

struct NewRequest {
  std::vector<std::uint8_t> csr;  // DER
  std::string subject;
  std::string profile;
  nlohmann::json attributes = nlohmann::json::object();
  std::string requester;
  RequestState state = RequestState::kReceived;  // or kDenied for a request refused on receipt
  std::string message;
};

struct Revocation {
  std::string revoked_at;  // RFC 3339
  std::string reason;      // RFC 5280 name
  std::optional<std::string> invalidity_date;
};

// What an OCSP answer says of a serial this CA issued: its revocation,
// when it is revoked.
struct RevocationStatus {
  std::optional<Revocation> revocation;
};

struct RequestRecord {
  std::int64_t id = 0;
  RequestState state = RequestState::kReceived;
  std::vector<std::uint8_t> csr;
  std::string subject;
  std::string profile;
  nlohmann::json attributes;
  std::string requester;
  std::string message;
  nlohmann::json overrides;  // the administrator's changes to the certificate-to-be
  std::string submitted_at;
  std::string updated_at;
  std::optional<std::string> serial;  // once a certificate exists
  std::optional<std::string> not_after;  // the certificate's, RFC 3339
  std::optional<Revocation> revocation;  // when and why it was revoked (no invalidity date here)
};


struct CertificateRecord {
  std::string serial;  // upper-case hex
  std::int64_t request_id = 0;
  std::vector<std::uint8_t> der;
  std::string not_before;
  std::string not_after;
  std::optional<Revocation> revocation;
};

// What the engine records before the token signs: the serial it reserved
// and the exact TBSCertificate bytes, so that a signature the database
// never received (a crash between signing and storing) is found.
struct SigningIntent {
  std::string serial;  // upper-case hex
  std::int64_t request_id = 0;
  std::vector<std::uint8_t> tbs;
  std::string owner;  // the process that reserved it (common/process.h process_identity)
  std::string reserved_at;
};

struct CrlRecord {
  std::int64_t number = 0;
  std::string this_update;
  std::string next_update;
  std::vector<std::uint8_t> der;
};

// An event for the exit modules, written to the outbox in the same
// transaction as the change it reports.
struct ExitEvent {
  std::string event;  // certificate_issued, request_pending, …
  std::optional<std::int64_t> request_id;
  std::optional<std::string> serial;
  std::optional<std::int64_t> crl_number;
};

struct OutboxRecord {
  std::int64_t id = 0;
  ExitEvent event;
  std::string created_at;
};

// A CRL entry's worth of a revoked certificate.
struct RevokedCertificate {
  std::string serial;
  Revocation revocation;
};

// One certificate's revocation set or lifted (set_revocations).
struct RevocationChange {
  std::string serial;
  std::optional<std::string> expected_reason;  // the reason it has now; nullopt: not revoked
  std::optional<Revocation> revocation;        // nullopt lifts it
  ExitEvent event;
  AuditEvent audit;
};

// A stored certificate's revocation as it stands (change_revocations).
struct RevocationState {
  std::int64_t request_id = 0;
  std::optional<std::string> reason;  // nullopt: not revoked
};

// Given a serial and its certificate's present state (nullopt: there is
// none), the change to make (its expected_reason unused), or nullopt to
// leave it. It may throw, which changes nothing; it runs inside the
// store's transaction, so it must not call the store.
using RevocationDecision =
    std::function<std::optional<RevocationChange>(const std::string& serial, const std::optional<RevocationState>&)>;

// A state change refused because the request or certificate is not in a
// state that allows it (another process may have changed it first).
class StateConflict : public Error {
 public:
  CUSTOS_ERROR_TYPE(StateConflict)
  using Error::Error;
};

// A certificate serial that is already taken; the engine draws another.
class SerialCollision : public Error {
 public:
  CUSTOS_ERROR_TYPE(SerialCollision)
  using Error::Error;
};

// A page of a listing, newest first: the requests older than `after` (the
// last id of the page before), at most `limit` of them.
struct RequestPage {
  std::optional<std::int64_t> after;
  std::optional<std::int64_t> limit;
};

class Store {
 public:
  virtual ~Store() = default;

  // The random identifier the database was created with; the CA's
  // configuration names it, so a store never opens for another CA.
  virtual std::string database_id() = 0;
  virtual int schema_version() = 0;

  // Appends one entry to the hash-chained audit log, in its own
  // transaction.
  virtual void append_audit(const AuditEvent& event) = 0;
  // Entries from `first_id` on, oldest first, handed to `each` one at a
  // time: a log grows without bound, so nothing reads it whole.
  virtual void read_audit_log(std::int64_t first_id, const std::function<void(const AuditRecord&)>& each) = 0;
  virtual std::optional<AuditRecord> latest_audit_entry() = 0;
  // Checkpoints, oldest first; adding one changes nothing else (the chain
  // it signs stays as it is). Its id is its sequence number, which the
  // signature covers: the caller sets it, and StateConflict says another
  // process took that number first.
  virtual void add_audit_checkpoint(const AuditCheckpoint& checkpoint) = 0;
  virtual std::vector<AuditCheckpoint> audit_checkpoints() = 0;
  virtual std::optional<AuditCheckpoint> audit_checkpoint(std::int64_t id) = 0;
  virtual std::optional<AuditCheckpoint> latest_audit_checkpoint() = 0;

  // Each mutation below is one transaction: the change, its outbox event
  // and its audit entry commit together or not at all.

  // Stores a new request, with its audit entry and (for one refused on
  // receipt) its exit event; returns its id.
  // Stores a new request (one transaction with its audit entry and event)
  // and returns it as stored, id and times included.
  virtual RequestRecord add_request(const NewRequest& request, const AuditEvent& audit,
                                    const std::optional<ExitEvent>& event = std::nullopt) = 0;
  virtual std::optional<RequestRecord> find_request(std::int64_t id) = 0;
  // The newest request `requester` made with exactly these DER bytes.
  virtual std::optional<RequestRecord> find_request_by_csr(const std::vector<std::uint8_t>& csr,
                                                           const std::string& requester) = 0;
  // Newest first; all states when `state` is unset; only requests older
  // than `page.after` (an id) when set, and at most `page.limit`.
  virtual std::vector<RequestRecord> list_requests(std::optional<RequestState> state, const RequestPage& page) = 0;

  // Moves request `id` from one of `from` to `to` with `message`. Throws
  // StateConflict naming the state it is in otherwise.
  virtual void change_request_state(std::int64_t id, const std::vector<RequestState>& from, RequestState to,
                                    const std::string& message, const std::optional<ExitEvent>& event,
                                    const AuditEvent& audit) = 0;

  // Replaces a pending request's attributes and overrides.
  virtual void edit_pending_request(std::int64_t id, const nlohmann::json& attributes, const std::string& profile,
                                    const nlohmann::json& overrides, const AuditEvent& audit) = 0;

  // Stores the certificate and moves the request (from one of `from`) to
  // issued, and the serial's signing intent is cleared. Throws
  // SerialCollision when the serial is taken.
  virtual void issue_certificate(const CertificateRecord& certificate, const std::vector<RequestState>& from,
                                 const std::string& message, const ExitEvent& event, const AuditEvent& audit) = 0;

  // Reserves intent.serial for intent.request_id with the TBS about to be
  // signed. Throws SerialCollision when a certificate or another intent
  // holds the serial.
  virtual void reserve_serial(const SigningIntent& intent) = 0;
  // The token refused to sign: the reservation goes.
  virtual void release_serial(const std::string& serial) = 0;
  // Intents no certificate cleared: each a signature that may exist and
  // that no record shows.
  virtual std::vector<SigningIntent> signing_intents() = 0;
  // Settles one such intent in one transaction: it is removed, the audit
  // entry appended, and its request, if still `from`, moved to `to` with
  // `message`.
  virtual void settle_signing_intent(const std::string& serial, const std::vector<RequestState>& from, RequestState to,
                                     const std::string& message, const AuditEvent& audit) = 0;
  virtual std::optional<CertificateRecord> find_certificate(const std::string& serial) = 0;
  // The revocation status of the certificate with `serial`, or nothing
  // when there is none: what OCSP needs, read from the serial's index and
  // the revoked certificates' index and never from the certificates' rows,
  // so that a lookup in a large store misses one page of the cache, not
  // two, and copies no DER.
  virtual std::optional<RevocationStatus> find_revocation_status(const std::string& serial) = 0;

  // In one transaction, reads each serial's certificate, asks `decide`
  // what to do with it and does it: sets (or, with nullopt, lifts) its
  // revocation and its request's state, with the change's exit event and
  // audit entry (appended in the order of `serials`). Deciding inside the
  // transaction means no other writer can change a state between the
  // reading and the writing. The rows are visited in the order they are
  // stored, so a large batch reads and writes each page once. When
  // `decide` throws for several serials, what it threw for the earliest
  // in `serials` is what this throws.
  virtual void change_revocations(const std::vector<std::string>& serials, const RevocationDecision& decide) = 0;
  // change_revocations for changes decided beforehand: when a certificate
  // is missing or its reason is not the change's `expected_reason`
  // (nullopt: not revoked), StateConflict names it and nothing is changed.
  void set_revocations(const std::vector<RevocationChange>& changes);

  // Hands `visit` each revoked certificate whose validity has not ended at
  // `now` (RFC 3339), one at a time, in ascending order of serial number
  // (as numbers), from an index of the revoked ones alone: a CRL is built
  // as the rows are read, whatever their number.
  virtual void for_each_revoked_certificate(const std::string& now,
                                            const std::function<void(const RevokedCertificate&)>& visit) = 0;

  virtual std::int64_t last_crl_number() = 0;
  virtual std::optional<CrlRecord> latest_crl() = 0;
  // Stores a CRL; its number must exceed every stored one (StateConflict).
  virtual void add_crl(const CrlRecord& crl, const ExitEvent& event, const AuditEvent& audit) = 0;

  virtual std::optional<CrlRecord> find_crl(std::int64_t number) = 0;

  // Records an event that changes no state (a client retrieved a pending
  // request) with its audit entry, in one transaction.
  virtual void record_event(const ExitEvent& event, const AuditEvent& audit) = 0;

  // A consistent copy of the whole store at `path` (which must not exist),
  // under the same key, so the same token opens it, mode 0600, made while
  // others may write. The backend knows how (SQLCipher: SQLite's online
  // backup into a file encrypted with the key it was opened with).
  virtual void backup_to(const std::filesystem::path& path) = 0;

  // For a process that keeps the store open (custosd): the store's upkeep
  // runs on a thread of its own instead of inside whichever commit found
  // it due, for every connection this process has to the store, as long
  // as this one is open. (SQLCipher: copying the write-ahead log into the
  // database file, a checkpoint; the log may then grow to 256 MiB before a
  // commit waits for the copy.) Failures go to `report_failure`, from that
  // thread; the upkeep is tried again after the next commit.
  virtual void upkeep_in_background(std::function<void(const std::string& message)> report_failure) = 0;

  // Turns processes take in turn, through the store so that every engine
  // that shares it sees them (the outbox delivery, so that events reach
  // each module in order). true when `owner` holds `name` now: it was
  // free, already `owner`'s, or held by a process that is gone
  // (common/process.h process_running) or silent for an hour.
  virtual bool take_turn(const std::string& name, const std::string& owner) = 0;
  virtual void end_turn(const std::string& name, const std::string& owner) = 0;

  // The outbox, oldest first; which modules acknowledged an event; and
  // its removal once every interested module has.
  virtual std::vector<OutboxRecord> outbox() = 0;
  virtual std::vector<std::string> deliveries(std::int64_t event_id) = 0;
  virtual void record_delivery(std::int64_t event_id, const std::string& module) = 0;
  // Removes the events, and their delivery records, in one transaction (a
  // delivery round ends with one commit, not one per event).
  virtual void remove_events(const std::vector<std::int64_t>& event_ids) = 0;
  // record_delivery, remove_events and the turns (take_turn, end_turn)
  // commit without waiting for the disk: they outlive the process, and a
  // power cut can only make a delivery repeat (it is at least once) or
  // forget a turn of a process it ended. The next durable commit makes
  // them durable.
};

// Where a CA's records live, as custos.toml's [database] says.
struct StoreLocation {
  std::string backend = "sqlcipher";  // the one backend today
  std::filesystem::path path;         // sqlcipher: the database file
  std::string database_id;            // which CA's store it must be
  // Decrypted pages kept per connection. SQLCipher decrypts a page (AES
  // and an HMAC) each time it comes into the cache. Issuance mostly
  // appends and does with SQLite's default; a bulk revocation widens its
  // connection's cache to 128 MiB while it runs (its index lookups span
  // the store, and it changes pages all over it), and custosd's status
  // lane, which looks up any serial at any time, keeps the full size.
  int page_cache_kib = kDefaultPageCacheKiB;
  static constexpr int kDefaultPageCacheKiB = 2 * 1024;
  static constexpr int kFullPageCacheKiB = 16 * 1024;
};

// The backends open_store knows, for messages and configuration checks.
const std::vector<std::string>& store_backends();

// Picks the backend `location` names. `key` is the raw 256-bit key the
// token gave; what the backend does with it (SQLCipher: the page key) is
// its own business. Throws StorageError or custos::Error naming the file.
std::unique_ptr<Store> create_store(const StoreLocation& location, const SecureBuffer& key);
std::unique_ptr<Store> open_store(const StoreLocation& location, const SecureBuffer& key);

// The SQLCipher backend.
class SqlCipherStore {
 public:
  // Creates a new encrypted database at `path` (which must not exist) with
  // the current schema. `key` is the raw 256-bit database key.
  static std::unique_ptr<Store> create(const std::filesystem::path& path, const SecureBuffer& key,
                                       const std::string& database_id);

  // Opens an existing database, proves the key with a read before anything
  // else, checks that it is the database `expected_database_id` names and
  // brings its schema up to date. One clear StorageError for a wrong key,
  // a damaged file or a file that is not ours.
  static std::unique_ptr<Store> open(const std::filesystem::path& path, const SecureBuffer& key,
                                     const std::string& expected_database_id,
                                     int page_cache_kib = StoreLocation::kDefaultPageCacheKiB);

  static constexpr int kSchemaVersion = 12;

  // The query a CRL is built from (Store::for_each_revoked_certificate),
  // here so that a test can check SQLite's plan reads the revoked rows
  // only, in the index's order. Serials are upper-case hex of whole bytes
  // without leading zero bytes, so the shorter is the smaller number.
  static constexpr const char* kRevokedForCrlQuery =
      "SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates "
      "WHERE revoked_at IS NOT NULL AND not_after > ?1 ORDER BY length(serial), serial";

  // The two queries of Store::find_revocation_status, here so that a test
  // can check SQLite's plan reads indexes alone: whether a certificate has
  // the serial, from the serial's own index; then its revocation, from the
  // revoked certificates' index (keyed by length(serial) first, the CRL's
  // order).
  static constexpr const char* kIssuedSerialQuery = "SELECT 1 FROM certificates WHERE serial = ?1";
  static constexpr const char* kRevocationOfSerialQuery =
      "SELECT revoked_at, revocation_reason, invalidity_date FROM certificates INDEXED BY certificates_revoked "
      "WHERE length(serial) = length(?1) AND serial = ?1 AND revoked_at IS NOT NULL";

  // For the migration tests: a new database at an older schema `version`
  // (1 to kSchemaVersion), as a custos of that version made it; open()
  // brings it up to date.
  static void create_at_version(const std::filesystem::path& path, const SecureBuffer& key,
                                const std::string& database_id, int version);
};

}  // namespace custos::storage
