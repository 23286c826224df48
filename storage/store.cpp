#include "storage/store.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <deque>
#include <exception>
#include <map>
#include <span>
#include <type_traits>

#include "common/clock.h"
#include "common/process.h"
#include "storage/audit.h"
#include "storage/sqlite.h"

namespace custos::storage {
namespace {

// Migration N brings the schema from version N-1 to N. Never edit one that
// has shipped; add the next.
constexpr std::array<const char*, SqlCipherStore::kSchemaVersion> kMigrations{
    // 1: identity of the database and the hash-chained audit log.
    R"sql(
      CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE audit_log (
        id            INTEGER PRIMARY KEY,
        at            TEXT NOT NULL,
        actor         TEXT NOT NULL,
        event         TEXT NOT NULL,
        detail        TEXT NOT NULL,
        previous_hash BLOB NOT NULL,
        hash          BLOB NOT NULL
      );
    )sql",
    // 2: the request flow — requests, certificates, CRLs and the exit outbox.
    R"sql(
      CREATE TABLE requests (
        id           INTEGER PRIMARY KEY,
        state        TEXT NOT NULL,
        csr          BLOB NOT NULL,
        subject      TEXT NOT NULL,
        profile      TEXT NOT NULL,
        attributes   TEXT NOT NULL,
        requester    TEXT NOT NULL,
        message      TEXT NOT NULL,
        overrides    TEXT NOT NULL DEFAULT '{}',
        submitted_at TEXT NOT NULL,
        updated_at   TEXT NOT NULL
      );
      CREATE INDEX requests_by_state ON requests (state, id);
      CREATE TABLE certificates (
        serial            TEXT PRIMARY KEY,
        request_id        INTEGER NOT NULL UNIQUE REFERENCES requests (id),
        der               BLOB NOT NULL,
        not_before        TEXT NOT NULL,
        not_after         TEXT NOT NULL,
        revoked_at        TEXT,
        revocation_reason TEXT,
        invalidity_date   TEXT
      );
      CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;
      CREATE TABLE crls (
        number      INTEGER PRIMARY KEY,
        this_update TEXT NOT NULL,
        next_update TEXT NOT NULL,
        der         BLOB NOT NULL
      );
      CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY,
        event      TEXT NOT NULL,
        request_id INTEGER,
        serial     TEXT,
        crl_number INTEGER,
        created_at TEXT NOT NULL
      );
    )sql",
    // 3: which exit module acknowledged which event.
    R"sql(
      CREATE TABLE outbox_deliveries (
        event_id     INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
        module       TEXT NOT NULL,
        delivered_at TEXT NOT NULL,
        PRIMARY KEY (event_id, module)
      );
    )sql",
    // 4: a client that retries a pending request (EST) sends the same
    // request again; this finds it without reading every request.
    R"sql(
      CREATE INDEX requests_by_csr ON requests (csr);
    )sql",
    // 5: the token's signatures over the audit chain.
    R"sql(
      CREATE TABLE audit_checkpoints (
        id         INTEGER PRIMARY KEY,
        audit_id   INTEGER NOT NULL,
        audit_hash BLOB NOT NULL,
        signed_at  TEXT NOT NULL,
        scheme     TEXT NOT NULL,
        signature  BLOB NOT NULL
      );
    )sql",
    // 6: what the token is about to sign, recorded before it signs.
    R"sql(
      CREATE TABLE signing_intents (
        serial      TEXT PRIMARY KEY,
        request_id  INTEGER NOT NULL REFERENCES requests (id),
        tbs         BLOB NOT NULL,
        owner       TEXT NOT NULL,
        reserved_at TEXT NOT NULL
      );
      CREATE TABLE turns (
        name     TEXT PRIMARY KEY,
        owner    TEXT NOT NULL,
        taken_at TEXT NOT NULL
      );
    )sql",
    // 7: the CRL reads only revoked certificates, in serial order, from an
    // index that holds what a CRL entry needs; the index it replaces was in
    // revocation order, so the query walked every certificate by serial.
    R"sql(
      DROP INDEX certificates_revoked;
      CREATE INDEX certificates_revoked ON certificates
        (serial, not_after, revoked_at, revocation_reason, invalidity_date) WHERE revoked_at IS NOT NULL;
    )sql",
    // 8: EST finds a client's earlier request by the SHA-256 of its CSR,
    // not by an index that held every CSR a second time (about 300 bytes a
    // request, and a page written for it on every insert).
    R"sql(
      ALTER TABLE requests ADD COLUMN csr_sha256 BLOB;
      UPDATE requests SET csr_sha256 = custos_sha256(csr);
      DROP INDEX requests_by_csr;
      CREATE INDEX requests_by_csr_sha256 ON requests (csr_sha256);
    )sql",
    // 9: the CRL's entries in the order of their serials as numbers, which
    // the CRL is written in as the rows are read: by length first (the hex
    // has no leading zero bytes), then by the text.
    R"sql(
      DROP INDEX certificates_revoked;
      CREATE INDEX certificates_revoked ON certificates
        (length(serial), serial, not_after, revoked_at, revocation_reason, invalidity_date)
        WHERE revoked_at IS NOT NULL;
    )sql",
    // 10: an exit event's id is never given again. Without AUTOINCREMENT
    // SQLite numbered each new event after the largest still stored, so an
    // emptied outbox started again at 1, and a module that kept the ids it
    // had handled (PROTOCOL.md) dropped new events as repeats. The tables
    // are rebuilt, the acknowledgements first so that dropping the old
    // outbox cascades into nothing; the new numbering starts above every
    // audit entry, since each event was written with one. Renaming the new
    // outbox carries the acknowledgements' reference along because foreign
    // keys are on (prove_key_and_configure, before any transaction).
    R"sql(
      CREATE TABLE exit_events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        event      TEXT NOT NULL,
        request_id INTEGER,
        serial     TEXT,
        crl_number INTEGER,
        created_at TEXT NOT NULL
      );
      INSERT INTO exit_events (id, event, request_id, serial, crl_number, created_at)
        SELECT id, event, request_id, serial, crl_number, created_at FROM outbox;
      CREATE TABLE exit_acknowledgements (
        event_id     INTEGER NOT NULL REFERENCES exit_events (id) ON DELETE CASCADE,
        module       TEXT NOT NULL,
        delivered_at TEXT NOT NULL,
        PRIMARY KEY (event_id, module)
      );
      INSERT INTO exit_acknowledgements (event_id, module, delivered_at)
        SELECT event_id, module, delivered_at FROM outbox_deliveries;
      DROP TABLE outbox_deliveries;
      DROP TABLE outbox;
      ALTER TABLE exit_events RENAME TO outbox;
      ALTER TABLE exit_acknowledgements RENAME TO outbox_deliveries;
      DELETE FROM sqlite_sequence WHERE name = 'outbox';
      INSERT INTO sqlite_sequence (name, seq)
        VALUES ('outbox', max((SELECT coalesce(max(id), 0) FROM outbox), (SELECT coalesce(max(id), 0) FROM audit_log)));
    )sql",
    // 11: an audit entry names its actor by a number into audit_actors,
    // and no longer stores the previous entry's hash, which is the hash of
    // the row before it (audit.h): a client certificate's actor is 69
    // characters, and an issuance writes two entries, about 200 bytes of
    // its 1,900 (bench/README.md). The hashes are not touched: each still
    // covers the previous hash and the actor's name, so the chain verifies
    // as before and an entry changed or removed before the upgrade still
    // breaks it.
    R"sql(
      CREATE TABLE audit_actors (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
      );
      INSERT INTO audit_actors (name) SELECT actor FROM audit_log GROUP BY actor ORDER BY min(id);
      CREATE TABLE audit_entries (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        actor_id INTEGER NOT NULL REFERENCES audit_actors (id),
        event    TEXT NOT NULL,
        detail   TEXT NOT NULL,
        hash     BLOB NOT NULL
      );
      INSERT INTO audit_entries (id, at, actor_id, event, detail, hash)
        SELECT log.id, log.at, actors.id, log.event, log.detail, log.hash
        FROM audit_log AS log JOIN audit_actors AS actors ON actors.name = log.actor ORDER BY log.id;
      DROP TABLE audit_log;
      ALTER TABLE audit_entries RENAME TO audit_log;
    )sql",
    // 12: a signing intent is one B-tree keyed by its serial (WITHOUT
    // ROWID). As a rowid table it had a second B-tree, the index SQLite
    // makes for the serial's key, so that reserving a serial and clearing
    // it at issuance wrote two pages each, where one does (bench/README.md).
    // An intent waiting at the upgrade (a signature whose process died) is
    // carried over.
    R"sql(
      CREATE TABLE intents_by_serial (
        serial      TEXT PRIMARY KEY,
        request_id  INTEGER NOT NULL REFERENCES requests (id),
        tbs         BLOB NOT NULL,
        owner       TEXT NOT NULL,
        reserved_at TEXT NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO intents_by_serial (serial, request_id, tbs, owner, reserved_at)
        SELECT serial, request_id, tbs, owner, reserved_at FROM signing_intents;
      DROP TABLE signing_intents;
      ALTER TABLE intents_by_serial RENAME TO signing_intents;
    )sql",
};

// A turn whose holder has not been heard of for this long is taken over,
// even when its process cannot be seen (another host).
constexpr std::time_t kSilentTurnSeconds = 3600;

std::vector<std::uint8_t> sha256(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> digest(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(digest.data(), bytes.data(), bytes.size());
  return digest;
}

// custos_sha256(blob), for the migrations: SQLite has no hash function.
void add_migration_functions(Connection& connection) {
  auto digest = [](sqlite3_context* context, int, sqlite3_value** values) {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_value_blob(values[0]));
    std::size_t size = static_cast<std::size_t>(sqlite3_value_bytes(values[0]));
    std::vector<std::uint8_t> hash = sha256({data, data == nullptr ? 0 : size});
    sqlite3_result_blob(context, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
  };
  int code = sqlite3_create_function_v2(connection.get(), "custos_sha256", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                        nullptr, digest, nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) connection.fail("adding the migrations' SQL functions", code);
}

constexpr const char* kRequestColumns =
    "r.id, r.state, r.csr, r.subject, r.profile, r.attributes, r.requester, r.message, r.overrides, "
    "r.submitted_at, r.updated_at, c.serial, c.not_after, c.revoked_at, c.revocation_reason";
constexpr const char* kCertificateColumns =
    "serial, request_id, der, not_before, not_after, revoked_at, revocation_reason, invalidity_date";

std::optional<std::string> optional_text(const Statement& row, int column) {
  if (row.column_is_null(column)) return std::nullopt;
  return row.column_text(column);
}

// A revocation from its three columns (revoked_at, revocation_reason,
// invalidity_date), the first at `first`.
Revocation read_revocation(const Statement& row, int first) {
  return {row.column_text(first), row.column_text(first + 1), optional_text(row, first + 2)};
}

RequestRecord read_request(const Statement& row) {
  RequestRecord record;
  record.id = row.column_int(0);
  record.state = parse_request_state(row.column_text(1)).value_or(RequestState::kFailed);
  record.csr = row.column_blob(2);
  record.subject = row.column_text(3);
  record.profile = row.column_text(4);
  record.attributes = nlohmann::json::parse(row.column_text(5));
  record.requester = row.column_text(6);
  record.message = row.column_text(7);
  record.overrides = nlohmann::json::parse(row.column_text(8));
  record.submitted_at = row.column_text(9);
  record.updated_at = row.column_text(10);
  record.serial = optional_text(row, 11);
  record.not_after = optional_text(row, 12);
  if (std::optional<std::string> revoked_at = optional_text(row, 13)) {
    record.revocation = Revocation{*revoked_at, row.column_text(14), std::nullopt};
  }
  return record;
}

struct BackupFinisher {
  void operator()(sqlite3_backup* backup) const { sqlite3_backup_finish(backup); }
};

constexpr const char* kAuditSelect =
    "SELECT log.id, log.at, actors.name, log.event, log.detail, log.hash "
    "FROM audit_log AS log JOIN audit_actors AS actors ON actors.id = log.actor_id";

AuditRecord read_audit_record(const Statement& row) {
  return {row.column_int(0), row.column_text(1), row.column_text(2),
          row.column_text(3), row.column_text(4), row.column_blob(5)};
}

constexpr const char* kCheckpointSelect =
    "SELECT id, audit_id, audit_hash, signed_at, scheme, signature FROM audit_checkpoints";

AuditCheckpoint read_checkpoint(const Statement& row) {
  return {row.column_int(0),  row.column_int(1),  row.column_blob(2),
          row.column_text(3), row.column_text(4), row.column_blob(5)};
}

CertificateRecord read_certificate(const Statement& row) {
  CertificateRecord record;
  record.serial = row.column_text(0);
  record.request_id = row.column_int(1);
  record.der = row.column_blob(2);
  record.not_before = row.column_text(3);
  record.not_after = row.column_text(4);
  if (!row.column_is_null(5)) {
    record.revocation = read_revocation(row, 5);
  }
  return record;
}

void bind_optional(Statement& statement, int index, const std::optional<std::string>& value) {
  if (value) {
    statement.bind(index, *value);
  } else {
    statement.bind_null(index);
  }
}

void bind_optional(Statement& statement, int index, const std::optional<std::int64_t>& value) {
  if (value) {
    statement.bind(index, *value);
  } else {
    statement.bind_null(index);
  }
}

std::string state_list(const std::vector<RequestState>& states) {
  std::string text;
  for (RequestState state : states) text += (text.empty() ? "" : " or ") + std::string(request_state_name(state));
  return text;
}

// Runs `update`, an UPDATE OR IGNORE of the request `id`, and fails
// unless it changed that row. OR IGNORE because a statement that could
// stop halfway (as on the NOT NULL of a request's columns) gets a
// statement journal inside a transaction, a copy of each page before it
// changes it, and SQLCipher encrypts every page it copies there: 6 pages
// for an issuance's update of its request, 3 to 8 for each certificate
// of a bulk revocation, most of the latter's page encryption
// (bench/README.md). With IGNORE it cannot stop halfway; nothing bound is
// NULL, and a row it did not write is caught here.
void run_request_update(const Connection& connection, Statement& update, std::int64_t id) {
  update.run();
  if (connection.changes() != 1) throw StateConflict("the request " + std::to_string(id) + " was not updated");
}

void prove_key_and_configure(Connection& connection, int page_cache_kib = StoreLocation::kDefaultPageCacheKiB);

class SqlCipherStoreImpl final : public Store {
 public:
  SqlCipherStoreImpl(std::unique_ptr<Connection> connection, const SecureBuffer& key,
                     int page_cache_kib = StoreLocation::kDefaultPageCacheKiB)
      : own_(std::move(connection)),
        connection_(own_.get()),
        key_(SecureBuffer::copy_of({key.data(), key.size()})),
        page_cache_kib_(page_cache_kib) {
    SharedDatabase& shared = own_->shared();
    std::lock_guard lock(shared.stores_mutex);
    if (shared.stores == 1) {
      // A second store on the file: from now on they all write through
      // one connection of their own (SharedDatabase::writer_connection).
      auto writer = std::make_shared<Connection>(own_->path(), false, key_);
      prove_key_and_configure(*writer);
      shared.writer_connection = std::move(writer);
    }
    ++shared.stores;
  }

  ~SqlCipherStoreImpl() override {
    SharedDatabase& shared = own_->shared();
    std::shared_ptr<Connection> last_writer;  // closed outside the lock
    std::lock_guard lock(shared.stores_mutex);
    if (--shared.stores < 2) last_writer = std::move(shared.writer_connection);
  }
  SqlCipherStoreImpl(const SqlCipherStoreImpl&) = delete;
  SqlCipherStoreImpl& operator=(const SqlCipherStoreImpl&) = delete;

  std::string database_id() override {
    Statement select(*connection_, "SELECT value FROM meta WHERE name = 'database_id'");
    if (!select.step()) throw Error(connection_->path().string() + " has no database id: it is not a Custos database");
    return select.column_text(0);
  }

  int schema_version() override {
    Statement select(*connection_, "PRAGMA user_version");
    select.step();
    return static_cast<int>(select.column_int(0));
  }

  void append_audit(const AuditEvent& event) override {
    write([&] { append_audit_in_transaction(event); });
  }

  RequestRecord add_request(const NewRequest& request, const AuditEvent& audit,
                            const std::optional<ExitEvent>& event) override {
    RequestRecord stored;
    auto insert_request = [&] {
      std::string now = now_rfc3339();
      Statement insert(*connection_,
                       "INSERT INTO requests (state, csr, subject, profile, attributes, requester, message, "
                       "submitted_at, updated_at, csr_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)");
      insert.bind(1, request_state_name(request.state)).bind(2, request.csr).bind(3, request.subject);
      insert.bind(4, request.profile).bind(5, request.attributes.dump()).bind(6, request.requester);
      insert.bind(7, request.message).bind(8, now).bind(9, sha256(request.csr)).run();
      std::int64_t id = sqlite3_last_insert_rowid(connection_->get());
      if (event) {
        ExitEvent about_this = *event;
        about_this.request_id = id;
        add_event(about_this);
      }
      AuditEvent entry = audit;
      entry.detail["request_id"] = id;
      append_audit_in_transaction(entry);
      stored.id = id;
      stored.state = request.state;
      stored.csr = request.csr;
      stored.subject = request.subject;
      stored.profile = request.profile;
      stored.attributes = request.attributes;
      stored.requester = request.requester;
      stored.message = request.message;
      stored.overrides = nlohmann::json::object();
      stored.submitted_at = now;
      stored.updated_at = now;
    };
    // A request stored as received is decided before anyone hears of it,
    // and that decision's commit makes it durable; one stored in its final
    // state (refused on receipt) is answered at once and is synced now.
    if (request.state == RequestState::kReceived) {
      write_unsynced(insert_request);
    } else {
      write(insert_request);
    }
    return stored;
  }

  std::optional<RequestRecord> find_request(std::int64_t id) override {
    Statement select(*connection_, std::string("SELECT ") + kRequestColumns +
                                       " FROM requests r LEFT JOIN certificates c ON c.request_id = r.id WHERE r.id = ?1");
    select.bind(1, id);
    if (!select.step()) return std::nullopt;
    return read_request(select);
  }

  std::optional<RequestRecord> find_request_by_csr(const std::vector<std::uint8_t>& csr,
                                                  const std::string& requester) override {
    Statement select(*connection_, std::string("SELECT ") + kRequestColumns +
                                       " FROM requests r LEFT JOIN certificates c ON c.request_id = r.id"
                                       " WHERE r.csr_sha256 = ?3 AND r.csr = ?1 AND r.requester = ?2"
                                       " ORDER BY r.id DESC LIMIT 1");
    select.bind(1, csr).bind(2, requester).bind(3, sha256(csr));
    if (!select.step()) return std::nullopt;
    return read_request(select);
  }

  std::vector<RequestRecord> list_requests(std::optional<RequestState> state, const RequestPage& page) override {
    Statement select(*connection_, std::string("SELECT ") + kRequestColumns +
                                       " FROM requests r LEFT JOIN certificates c ON c.request_id = r.id"
                                       " WHERE (?1 IS NULL OR r.state = ?1) AND (?2 IS NULL OR r.id < ?2)"
                                       " ORDER BY r.id DESC LIMIT ?3");
    if (state) select.bind(1, request_state_name(*state));
    if (page.after) select.bind(2, *page.after);
    select.bind(3, page.limit.value_or(-1));
    std::vector<RequestRecord> records;
    while (select.step()) records.push_back(read_request(select));
    return records;
  }

  void change_request_state(std::int64_t id, const std::vector<RequestState>& from, RequestState to,
                            const std::string& message, const std::optional<ExitEvent>& event,
                            const AuditEvent& audit) override {
    write([&] {
      require_request_state(id, from);
      Statement update(*connection_,
                       "UPDATE OR IGNORE requests SET state = ?2, message = ?3, updated_at = ?4 WHERE id = ?1");
      update.bind(1, id).bind(2, request_state_name(to)).bind(3, message).bind(4, now_rfc3339());
      run_request_update(*connection_, update, id);
      if (event) add_event(*event);
      append_audit_in_transaction(audit);
    });
  }

  void edit_pending_request(std::int64_t id, const nlohmann::json& attributes, const std::string& profile,
                            const nlohmann::json& overrides, const AuditEvent& audit) override {
    write([&] {
      require_request_state(id, {RequestState::kPending});
      Statement update(*connection_,
                       "UPDATE OR IGNORE requests SET attributes = ?2, profile = ?3, overrides = ?4, updated_at = ?5 "
                       "WHERE id = ?1");
      update.bind(1, id).bind(2, attributes.dump()).bind(3, profile).bind(4, overrides.dump());
      update.bind(5, now_rfc3339());
      run_request_update(*connection_, update, id);
      append_audit_in_transaction(audit);
    });
  }

  void issue_certificate(const CertificateRecord& certificate, const std::vector<RequestState>& from,
                         const std::string& message, const ExitEvent& event, const AuditEvent& audit) override {
    write([&] {
      require_request_state(certificate.request_id, from);
      {
        Statement taken(*connection_, "SELECT 1 FROM certificates WHERE serial = ?1");
        taken.bind(1, certificate.serial);
        if (taken.step()) throw SerialCollision("the serial " + certificate.serial + " is already taken");
      }
      Statement insert(*connection_, std::string("INSERT INTO certificates (") + kCertificateColumns +
                                         ") VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, NULL)");
      insert.bind(1, certificate.serial).bind(2, certificate.request_id).bind(3, certificate.der);
      insert.bind(4, certificate.not_before).bind(5, certificate.not_after).run();
      Statement cleared(*connection_, "DELETE FROM signing_intents WHERE serial = ?1");
      cleared.bind(1, certificate.serial).run();
      Statement update(*connection_,
                       "UPDATE OR IGNORE requests SET state = 'issued', message = ?2, updated_at = ?3 WHERE id = ?1");
      update.bind(1, certificate.request_id).bind(2, message).bind(3, now_rfc3339());
      run_request_update(*connection_, update, certificate.request_id);
      add_event(event);
      append_audit_in_transaction(audit);
    });
  }

  void reserve_serial(const SigningIntent& intent) override {
    // The intent must outlive this process dying while the token signs,
    // which a commit without an fsync does (write_unsynced). A
    // power cut before the certificate's own commit loses it together with
    // a signature nobody has received.
    write_unsynced([&] {
      Statement taken(*connection_,
                      "SELECT 1 FROM certificates WHERE serial = ?1 UNION ALL SELECT 1 FROM signing_intents WHERE serial = ?1");
      taken.bind(1, intent.serial);
      if (taken.step()) throw SerialCollision("the serial " + intent.serial + " is already taken");
      Statement insert(*connection_,
                       "INSERT INTO signing_intents (serial, request_id, tbs, owner, reserved_at) VALUES (?1, ?2, ?3, ?4, ?5)");
      insert.bind(1, intent.serial).bind(2, intent.request_id).bind(3, intent.tbs).bind(4, intent.owner);
      insert.bind(5, now_rfc3339()).run();
    });
  }

  void release_serial(const std::string& serial) override {
    write([&] {
      Statement remove(*connection_, "DELETE FROM signing_intents WHERE serial = ?1");
      remove.bind(1, serial).run();
    });
  }

  std::vector<SigningIntent> signing_intents() override {
    Statement select(*connection_,
                     "SELECT serial, request_id, tbs, owner, reserved_at FROM signing_intents ORDER BY reserved_at");
    std::vector<SigningIntent> intents;
    while (select.step()) {
      intents.push_back({select.column_text(0), select.column_int(1), select.column_blob(2), select.column_text(3),
                         select.column_text(4)});
    }
    return intents;
  }

  void settle_signing_intent(const std::string& serial, const std::vector<RequestState>& from, RequestState to,
                             const std::string& message, const AuditEvent& audit) override {
    write([&] {
      Statement select(*connection_, "SELECT request_id FROM signing_intents WHERE serial = ?1");
      select.bind(1, serial);
      if (!select.step()) throw StateConflict("no signing intent holds the serial " + serial);
      std::int64_t request_id = select.column_int(0);
      Statement remove(*connection_, "DELETE FROM signing_intents WHERE serial = ?1");
      remove.bind(1, serial).run();
      std::optional<RequestRecord> request = find_request(request_id);
      if (request && std::find(from.begin(), from.end(), request->state) != from.end()) {
        Statement update(*connection_,
                         "UPDATE OR IGNORE requests SET state = ?2, message = ?3, updated_at = ?4 WHERE id = ?1");
        update.bind(1, request_id).bind(2, std::string(request_state_name(to))).bind(3, message).bind(4, now_rfc3339());
        run_request_update(*connection_, update, request_id);
      }
      append_audit_in_transaction(audit);
    });
  }

  // Through the shared writer: custosd asks for a client's certificate on
  // every call that carries one, right after other engines' writes.
  std::optional<CertificateRecord> find_certificate(const std::string& serial) override {
    return read_through_writer([&]() -> std::optional<CertificateRecord> {
      Statement select(*connection_,
                       std::string("SELECT ") + kCertificateColumns + " FROM certificates WHERE serial = ?1");
      select.bind(1, serial);
      if (!select.step()) return std::nullopt;
      return read_certificate(select);
    });
  }

  std::optional<RevocationStatus> find_revocation_status(const std::string& serial) override {
    {
      Statement issued(*connection_, SqlCipherStore::kIssuedSerialQuery);
      issued.bind(1, serial);
      if (!issued.step()) return std::nullopt;
    }
    Statement revoked(*connection_, SqlCipherStore::kRevocationOfSerialQuery);
    revoked.bind(1, serial);
    RevocationStatus status;
    if (revoked.step()) status.revocation = read_revocation(revoked, 0);
    return status;
  }

  void change_revocations(const std::vector<std::string>& serials, const RevocationDecision& decide) override {
    if (serials.empty()) return;
    auto revoke_rows = [&] {
      // The refusal reported is the one for the earliest serial in the
      // caller's order, whichever row is read first; throwing it rolls
      // back whatever was changed.
      std::optional<std::pair<std::size_t, std::exception_ptr>> first_refusal;
      auto decide_at = [&](std::size_t position, const std::optional<RevocationState>& state) {
        try {
          return decide(serials[position], state);
        } catch (...) {
          if (!first_refusal || position < first_refusal->first) first_refusal.emplace(position, std::current_exception());
          return std::optional<RevocationChange>();
        }
      };
      // First each row's place, from the serial's index alone; then the
      // rows in that order. A batch of random serials then reads and
      // writes each page of the tables once, not once per row.
      Statement locate(*connection_, "SELECT rowid FROM certificates WHERE serial = ?1");
      std::vector<std::pair<std::int64_t, std::size_t>> rows;  // rowid, position in `serials`
      rows.reserve(serials.size());
      for (std::size_t position = 0; position < serials.size(); ++position) {
        locate.reset();
        locate.bind(1, serials[position]);
        if (locate.step()) {
          rows.emplace_back(locate.column_int(0), position);
        } else if (decide_at(position, std::nullopt)) {
          throw StateConflict("there is no certificate with serial " + serials[position]);
        }
      }
      locate.reset();
      std::sort(rows.begin(), rows.end());
      Statement current(*connection_, "SELECT request_id, revocation_reason FROM certificates WHERE rowid = ?1");
      Statement update(*connection_,
                       "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3, invalidity_date = ?4 "
                       "WHERE rowid = ?1");
      Statement request(*connection_, "UPDATE OR IGNORE requests SET state = ?2, updated_at = ?3 WHERE id = ?1");
      const std::string now = now_rfc3339();
      std::vector<std::optional<RevocationChange>> decided(serials.size());
      for (const auto& [rowid, position] : rows) {
        current.reset();
        current.bind(1, rowid);
        if (!current.step()) throw StateConflict("the certificate " + serials[position] + " went from the table");
        RevocationState state{current.column_int(0), optional_text(current, 1)};
        current.reset();  // done with the row before the table changes under it
        // Past a refusal only the serials before it still matter, and
        // nothing needs changing: it will all be rolled back.
        if (first_refusal && position > first_refusal->first) continue;
        decided[position] = decide_at(position, state);
        if (!decided[position] || first_refusal) continue;
        const std::optional<Revocation>& revocation = decided[position]->revocation;
        update.reset();
        update.bind(1, rowid);
        bind_optional(update, 2, revocation ? std::optional(revocation->revoked_at) : std::nullopt);
        bind_optional(update, 3, revocation ? std::optional(revocation->reason) : std::nullopt);
        bind_optional(update, 4, revocation ? revocation->invalidity_date : std::nullopt);
        update.run();
        request.reset();
        request.bind(1, state.request_id)
            .bind(2, revocation ? std::string_view("revoked") : std::string_view("issued"))
            .bind(3, now);
        run_request_update(*connection_, request, state.request_id);
      }
      if (first_refusal) std::rethrow_exception(first_refusal->second);
      for (const std::optional<RevocationChange>& change : decided) {
        if (!change) continue;
        add_event(change->event);
        append_audit_in_transaction(change->audit);
      }
    };
    transact(revoke_rows, Commit::kSynced, true);
  }

  void for_each_revoked_certificate(const std::string& now,
                                    const std::function<void(const RevokedCertificate&)>& visit) override {
    Statement select(*connection_, SqlCipherStore::kRevokedForCrlQuery);
    select.bind(1, now);
    while (select.step()) {
      visit({select.column_text(0), read_revocation(select, 1)});
    }
  }

  std::int64_t last_crl_number() override {
    Statement select(*connection_, "SELECT coalesce(max(number), 0) FROM crls");
    select.step();
    return select.column_int(0);
  }

  std::optional<CrlRecord> latest_crl() override {
    Statement select(*connection_, "SELECT number, this_update, next_update, der FROM crls ORDER BY number DESC LIMIT 1");
    if (!select.step()) return std::nullopt;
    return CrlRecord{select.column_int(0), select.column_text(1), select.column_text(2), select.column_blob(3)};
  }

  void add_crl(const CrlRecord& crl, const ExitEvent& event, const AuditEvent& audit) override {
    write([&] {
      if (crl.number <= last_crl_number()) {
        throw StateConflict("CRL number " + std::to_string(crl.number) + " is not above the last one issued");
      }
      Statement insert(*connection_, "INSERT INTO crls (number, this_update, next_update, der) VALUES (?1, ?2, ?3, ?4)");
      insert.bind(1, crl.number).bind(2, crl.this_update).bind(3, crl.next_update).bind(4, crl.der).run();
      add_event(event);
      append_audit_in_transaction(audit);
    });
  }

  std::optional<CrlRecord> find_crl(std::int64_t number) override {
    Statement select(*connection_, "SELECT number, this_update, next_update, der FROM crls WHERE number = ?1");
    select.bind(1, number);
    if (!select.step()) return std::nullopt;
    return CrlRecord{select.column_int(0), select.column_text(1), select.column_text(2), select.column_blob(3)};
  }

  void record_event(const ExitEvent& event, const AuditEvent& audit) override {
    write([&] {
      add_event(event);
      append_audit_in_transaction(audit);
    });
  }

  std::vector<std::string> deliveries(std::int64_t event_id) override {
    Statement select(*connection_, "SELECT module FROM outbox_deliveries WHERE event_id = ?1 ORDER BY module");
    select.bind(1, event_id);
    std::vector<std::string> modules;
    while (select.step()) modules.push_back(select.column_text(0));
    return modules;
  }

  void record_delivery(std::int64_t event_id, const std::string& module) override {
    write_unsynced([&] {
      Statement insert(*connection_,
                       "INSERT OR IGNORE INTO outbox_deliveries (event_id, module, delivered_at) VALUES (?1, ?2, ?3)");
      insert.bind(1, event_id).bind(2, module).bind(3, now_rfc3339()).run();
    });
  }

  void remove_events(const std::vector<std::int64_t>& event_ids) override {
    if (event_ids.empty()) return;
    write_unsynced([&] {
      Statement remove(*connection_, "DELETE FROM outbox WHERE id = ?1");
      for (std::int64_t event_id : event_ids) {
        remove.bind(1, event_id).run();
        remove.reset();
      }
    });
  }

  std::vector<OutboxRecord> outbox() override {
    Statement select(*connection_, "SELECT id, event, request_id, serial, crl_number, created_at FROM outbox ORDER BY id");
    std::vector<OutboxRecord> records;
    while (select.step()) {
      OutboxRecord record;
      record.id = select.column_int(0);
      record.event.event = select.column_text(1);
      if (!select.column_is_null(2)) record.event.request_id = select.column_int(2);
      record.event.serial = optional_text(select, 3);
      if (!select.column_is_null(4)) record.event.crl_number = select.column_int(4);
      record.created_at = select.column_text(5);
      records.push_back(std::move(record));
    }
    return records;
  }

  void backup_to(const std::filesystem::path& path) override {
    if (std::filesystem::exists(path)) throw Error(path.string() + " already exists");
    Connection copy(path, true, key_);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::unique_ptr<sqlite3_backup, BackupFinisher> backup(
        sqlite3_backup_init(copy.get(), "main", connection_->get(), "main"));
    if (!backup) copy.fail("starting the backup", sqlite3_errcode(copy.get()));
    // One step: every page under one read transaction, a single snapshot.
    int code = sqlite3_backup_step(backup.get(), -1);
    if (code != SQLITE_DONE) copy.fail("copying the database", code);
    code = sqlite3_backup_finish(backup.release());
    if (code != SQLITE_OK) copy.fail("finishing the backup", code);
  }

  void upkeep_in_background(std::function<void(const std::string& message)> report_failure) override {
    if (checkpointer_) return;
    checkpointer_ = std::make_unique<BackgroundCheckpointer>(
        std::make_unique<Connection>(connection_->path(), false, key_), std::move(report_failure));
  }

  bool take_turn(const std::string& name, const std::string& owner) override {
    bool taken = false;
    write_unsynced([&] {
      Statement select(*connection_, "SELECT owner, taken_at FROM turns WHERE name = ?1");
      select.bind(1, name);
      bool held_before = select.step();
      if (held_before) {
        std::string holder = select.column_text(0);
        bool silent = std::time(nullptr) - parse_rfc3339(select.column_text(1)) > kSilentTurnSeconds;
        std::optional<bool> running = process_running(holder);
        if (holder != owner && !silent && running != false) return;
      }
      // An UPDATE OR IGNORE of the row found, else a plain INSERT, not an
      // INSERT OR REPLACE: a replace may delete, so SQLite gives it a
      // statement journal whose pages SQLCipher encrypts (3 a turn;
      // run_request_update says more). The transaction holds the writer
      // lock, so the row read above is still the row there.
      std::string taken_at = now_rfc3339();
      if (held_before) {
        Statement renew(*connection_, "UPDATE OR IGNORE turns SET owner = ?2, taken_at = ?3 WHERE name = ?1");
        renew.bind(1, name).bind(2, owner).bind(3, taken_at).run();
      } else {
        Statement take(*connection_, "INSERT INTO turns (name, owner, taken_at) VALUES (?1, ?2, ?3)");
        take.bind(1, name).bind(2, owner).bind(3, taken_at).run();
      }
      if (connection_->changes() != 1) throw StateConflict("the turn " + name + " was not taken");
      taken = true;
    });
    return taken;
  }

  void end_turn(const std::string& name, const std::string& owner) override {
    write_unsynced([&] {
      Statement release(*connection_, "DELETE FROM turns WHERE name = ?1 AND owner = ?2");
      release.bind(1, name).bind(2, owner).run();
    });
  }

  void read_audit_log(std::int64_t first_id, const std::function<void(const AuditRecord&)>& each) override {
    Statement select(*connection_, std::string(kAuditSelect) + " WHERE log.id >= ?1 ORDER BY log.id");
    select.bind(1, first_id);
    while (select.step()) each(read_audit_record(select));
  }

  std::optional<AuditRecord> latest_audit_entry() override {
    Statement select(*connection_, std::string(kAuditSelect) + " ORDER BY log.id DESC LIMIT 1");
    if (!select.step()) return std::nullopt;
    return read_audit_record(select);
  }

  void add_audit_checkpoint(const AuditCheckpoint& checkpoint) override {
    write([&] {
      {
        Statement taken(*connection_, "SELECT 1 FROM audit_checkpoints WHERE id = ?1");
        taken.bind(1, checkpoint.id);
        if (taken.step()) throw StateConflict("audit checkpoint " + std::to_string(checkpoint.id) + " already exists");
      }
      Statement insert(*connection_,
                       "INSERT INTO audit_checkpoints (id, audit_id, audit_hash, signed_at, scheme, signature) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      insert.bind(1, checkpoint.id).bind(2, checkpoint.audit_id).bind(3, checkpoint.audit_hash);
      insert.bind(4, checkpoint.signed_at).bind(5, checkpoint.scheme).bind(6, checkpoint.signature).run();
    });
  }

  std::vector<AuditCheckpoint> audit_checkpoints() override {
    Statement select(*connection_, std::string(kCheckpointSelect) + " ORDER BY id");
    std::vector<AuditCheckpoint> checkpoints;
    while (select.step()) checkpoints.push_back(read_checkpoint(select));
    return checkpoints;
  }

  std::optional<AuditCheckpoint> audit_checkpoint(std::int64_t id) override {
    Statement select(*connection_, std::string(kCheckpointSelect) + " WHERE id = ?1");
    select.bind(1, id);
    if (!select.step()) return std::nullopt;
    return read_checkpoint(select);
  }

  std::optional<AuditCheckpoint> latest_audit_checkpoint() override {
    Statement select(*connection_, std::string(kCheckpointSelect) + " ORDER BY id DESC LIMIT 1");
    if (!select.step()) return std::nullopt;
    return read_checkpoint(select);
  }

  void migrate() {
    int version = schema_version();
    if (version > SqlCipherStore::kSchemaVersion) {
      throw Error(connection_->path().string() + " has schema version " + std::to_string(version) +
                  ", newer than this custos understands (" + std::to_string(SqlCipherStore::kSchemaVersion) +
                  "); upgrade custos");
    }
    if (version < SqlCipherStore::kSchemaVersion) add_migration_functions(*connection_);
    while (version < SqlCipherStore::kSchemaVersion) {
      Transaction transaction(*connection_);
      // Another process may have migrated while this one waited for the lock.
      version = schema_version();
      if (version < SqlCipherStore::kSchemaVersion) {
        connection_->execute(kMigrations[static_cast<std::size_t>(version)]);
        connection_->execute("PRAGMA user_version = " + std::to_string(version + 1));
      }
      transaction.commit();
    }
  }

  Connection& connection() { return *connection_; }

 private:
  enum class Commit { kSynced, kUnsynced };

  // Every change goes through here: one transaction, taken with the write
  // lock up front, and on the disk when it returns. Concurrent commits
  // share the fdatasync that makes them durable (Transaction::commit,
  // group commit); the engine does not see it.
  template <typename Change>
  void write(Change&& change) {
    transact(change, Commit::kSynced);
  }

  // A commit that waits for no fdatasync: it survives this process (in WAL
  // mode the kernel holds the write) but not a power cut until the next
  // synced commit, which makes it durable with itself because the WAL is
  // synced as a whole. For what nobody is told of yet (a request's state
  // before its decision: the commit that settles it is synced before any
  // answer), and for the outbox delivery's bookkeeping, which a power cut
  // can only make repeat: delivery is at least once, and a turn whose
  // record is lost belonged to a process the power cut ended. An fsync
  // fewer for each.
  template <typename Change>
  void write_unsynced(Change&& change) {
    transact(change, Commit::kUnsynced);
  }

  // `change` runs on the connection this process's stores on the file
  // write through (SharedDatabase::writer_connection) while there is one,
  // else on this store's own, and every statement the store makes in it
  // goes there (connection_). The wait for the disk goes through this
  // store's own connection: the writer's belongs to the next writer as
  // soon as the commit lets go of the lock. `wide_cache` gives the writing
  // connection a wide page cache for the change (WidePageCache).
  template <typename Change>
  void transact(Change& change, Commit commit, bool wide_cache = false) {
    std::shared_ptr<Connection> shared_writer = shared_writer_connection();
    Connection& writer = shared_writer ? *shared_writer : *own_;
    connection_ = &writer;
    BackToOwn back_to_own{*this};
    Transaction transaction(writer);
    {
      std::optional<WidePageCache> wide;
      if (wide_cache) wide.emplace(writer, page_cache_kib_);
      change();
    }
    if (commit == Commit::kSynced) {
      transaction.commit(*own_);
    } else {
      transaction.commit_unsynced();
    }
  }

  std::shared_ptr<Connection> shared_writer_connection() {
    SharedDatabase& shared = own_->shared();
    std::lock_guard lock(shared.stores_mutex);
    return shared.writer_connection;
  }

  struct BackToOwn {
    SqlCipherStoreImpl& store;
    ~BackToOwn() { store.connection_ = store.own_.get(); }
  };

  // `read` on the shared writer, under the writer lock, while there is
  // one: its page cache keeps what the writes left, where this store's
  // own loses its cache to every other store's write, and SQLCipher
  // decrypts each page read again (SharedDatabase). It waits for a write
  // in progress (as long as a transaction would), so only reads that
  // follow writes anyway come here: the status lane's do not. Not from inside a change, which holds the lock.
  template <typename Read>
  std::invoke_result_t<Read&> read_through_writer(Read&& read) {
    std::shared_ptr<Connection> shared_writer = shared_writer_connection();
    if (!shared_writer) return read();
    std::unique_lock lock = lock_writer(*own_, "reading");
    connection_ = shared_writer.get();
    BackToOwn back_to_own{*this};
    return read();
  }

  void require_request_state(std::int64_t id, const std::vector<RequestState>& allowed) {
    Statement select(*connection_, "SELECT state FROM requests WHERE id = ?1");
    select.bind(1, id);
    if (!select.step()) throw StateConflict("there is no request " + std::to_string(id));
    std::string state = select.column_text(0);
    for (RequestState candidate : allowed) {
      if (request_state_name(candidate) == state) return;
    }
    throw StateConflict("request " + std::to_string(id) + " is " + state + ", not " + state_list(allowed));
  }

  void add_event(const ExitEvent& event) {
    Statement insert(*connection_,
                     "INSERT INTO outbox (event, request_id, serial, crl_number, created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
    insert.bind(1, event.event);
    bind_optional(insert, 2, event.request_id);
    bind_optional(insert, 3, event.serial);
    bind_optional(insert, 4, event.crl_number);
    insert.bind(5, now_rfc3339()).run();
  }

  void append_audit_in_transaction(const AuditEvent& event) {
    std::vector<std::uint8_t> previous(kAuditHashBytes, 0);
    std::int64_t id = 1;
    {
      Statement last(*connection_, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
      if (last.step()) {
        id = last.column_int(0) + 1;
        previous = last.column_blob(1);
      }
    }
    std::string at = now_rfc3339();
    std::string detail = event.detail.is_null() ? "{}" : event.detail.dump();
    std::vector<std::uint8_t> hash = audit_hash(previous, id, at, event.actor, event.event, detail);
    Statement insert(*connection_,
                     "INSERT INTO audit_log (id, at, actor_id, event, detail, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    insert.bind(1, id).bind(2, at).bind(3, actor_id(event.actor)).bind(4, event.event).bind(5, detail);
    insert.bind(6, hash).run();
  }

  // The number audit entries name `actor` by, given it here the first time.
  std::int64_t actor_id(const std::string& actor) {
    Statement select(*connection_, "SELECT id FROM audit_actors WHERE name = ?1");
    select.bind(1, actor);
    if (select.step()) return select.column_int(0);
    Statement insert(*connection_, "INSERT INTO audit_actors (name) VALUES (?1)");
    insert.bind(1, actor).run();
    return sqlite3_last_insert_rowid(connection_->get());
  }

  // A wide page cache for the lifetime of one bulk operation, then the
  // connection's own again (SQLite frees the pages past it). A batch of
  // 20,000 revocations in a store of a million changes a page of each
  // table and of the CRL's index per certificate; with 16 MiB SQLite
  // wrote dirty pages to the WAL before the commit and read and wrote
  // them again, each time through SQLCipher's page crypto: 8,600
  // revocations/s, against 9,600/s with 128 MiB (no better with 256 or
  // 512; bench/README.md).
  class WidePageCache {
   public:
    WidePageCache(Connection& connection, int own_kib) : connection_(connection), own_kib_(own_kib) {
      if (own_kib_ < kBulkKiB) {
        connection_.execute("PRAGMA cache_size = -" + std::to_string(kBulkKiB));
      }
    }
    ~WidePageCache() {
      if (own_kib_ >= kBulkKiB) return;
      try {
        connection_.execute("PRAGMA cache_size = -" + std::to_string(own_kib_));
      } catch (const std::exception&) {
        // A connection that cannot even set its cache has failed louder
        // elsewhere; the wider cache costs memory, not correctness.
      }
    }
    WidePageCache(const WidePageCache&) = delete;
    WidePageCache& operator=(const WidePageCache&) = delete;

   private:
    static constexpr int kBulkKiB = 128 * 1024;  // an upper bound: pages come in as the batch reads them
    Connection& connection_;
    int own_kib_;
  };

  std::unique_ptr<Connection> own_;
  // The connection statements go to: own_, or while a change is written
  // the one it is written through (transact).
  Connection* connection_;
  SecureBuffer key_;  // for backup_to, the checkpointer's and the shared writer's connections
  int page_cache_kib_;
  std::unique_ptr<BackgroundCheckpointer> checkpointer_;  // last: gone before the connection
};

// Proves the key with a read, then sets the journal (only after the key:
// set before it, SQLCipher answers "file is not a database").
void prove_key_and_configure(Connection& connection, int page_cache_kib) {
  try {
    Statement probe(connection, "SELECT count(*) FROM sqlite_master");
    probe.step();
  } catch (const StorageError& error) {
    if (error.code() == SQLITE_NOTADB || (error.code() & 0xff) == SQLITE_CORRUPT) {
      throw StorageError("the database key does not open " + connection.path().string() +
                             ": it was made with another key, is not a Custos database, or is damaged",
                         error.code());
    }
    throw;
  }
  // synchronous = NORMAL: a COMMIT does not fsync; Transaction::commit
  // syncs the WAL itself, outside the writer lock and shared with
  // concurrent commits (sqlite.h, SharedDatabase).
  connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
  // SQLCipher decrypts a page (AES and an HMAC) every time it comes into
  // SQLite's cache, and SQLite's default cache is 2 MiB: the indexes a
  // store of some thousands of certificates is keyed by outgrow it, and a
  // page evicted is a page decrypted again (63 % of custosd's CPU in a
  // bulk revocation of 10,000). StoreLocation says who gets how much;
  // memory is taken only as pages are read.
  connection.execute("PRAGMA cache_size = -" + std::to_string(page_cache_kib));
}

}  // namespace

std::string_view request_state_name(RequestState state) {
  switch (state) {
    case RequestState::kReceived:
      return "received";
    case RequestState::kPending:
      return "pending";
    case RequestState::kIssued:
      return "issued";
    case RequestState::kDenied:
      return "denied";
    case RequestState::kRevoked:
      return "revoked";
    case RequestState::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<RequestState> parse_request_state(std::string_view name) {
  for (RequestState state : {RequestState::kReceived, RequestState::kPending, RequestState::kIssued,
                             RequestState::kDenied, RequestState::kRevoked, RequestState::kFailed}) {
    if (request_state_name(state) == name) return state;
  }
  return std::nullopt;
}

void Store::set_revocations(const std::vector<RevocationChange>& changes) {
  // A serial named more than once gets its changes in turn: the store
  // visits one row's positions in the order they were given.
  std::vector<std::string> serials;
  std::map<std::string, std::deque<const RevocationChange*>> by_serial;
  for (const RevocationChange& change : changes) {
    serials.push_back(change.serial);
    by_serial[change.serial].push_back(&change);
  }
  change_revocations(serials, [&](const std::string& serial, const std::optional<RevocationState>& state) {
    std::deque<const RevocationChange*>& turns = by_serial.at(serial);
    const RevocationChange& change = *turns.front();
    turns.pop_front();
    if (!state) throw StateConflict("there is no certificate with serial " + serial);
    if (state->reason != change.expected_reason) {
      throw StateConflict("the certificate " + serial + " is " +
                          (state->reason ? "revoked (" + *state->reason + ")" : std::string("not revoked")));
    }
    return std::optional<RevocationChange>(change);
  });
}

std::unique_ptr<Store> SqlCipherStore::create(const std::filesystem::path& path, const SecureBuffer& key,
                                              const std::string& database_id) {
  if (std::filesystem::exists(path)) throw Error("the database " + path.string() + " already exists");
  auto connection = std::make_unique<Connection>(path, true, key);
  // Encrypted, but still nobody else's business; SQLite gives its -wal and
  // -shm files the same mode.
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  prove_key_and_configure(*connection);
  auto store = std::make_unique<SqlCipherStoreImpl>(std::move(connection), key);
  store->migrate();
  Transaction transaction(store->connection());
  Statement insert(store->connection(), "INSERT INTO meta (name, value) VALUES (?1, ?2)");
  insert.bind(1, std::string_view("database_id")).bind(2, database_id).run();
  insert.reset();
  insert.bind(1, std::string_view("created_at")).bind(2, now_rfc3339()).run();
  transaction.commit();
  return store;
}

std::unique_ptr<Store> SqlCipherStore::open(const std::filesystem::path& path, const SecureBuffer& key,
                                            const std::string& expected_database_id, int page_cache_kib) {
  if (!std::filesystem::exists(path)) throw Error("the database " + path.string() + " does not exist");
  auto connection = std::make_unique<Connection>(path, false, key);
  prove_key_and_configure(*connection, page_cache_kib);
  auto store = std::make_unique<SqlCipherStoreImpl>(std::move(connection), key, page_cache_kib);
  std::string found = store->database_id();
  if (found != expected_database_id) {
    throw Error(path.string() + " belongs to another CA (database id " + found + ", the configuration names " +
                expected_database_id + ")");
  }
  store->migrate();
  return store;
}

void SqlCipherStore::create_at_version(const std::filesystem::path& path, const SecureBuffer& key,
                                       const std::string& database_id, int version) {
  if (version < 1 || version > kSchemaVersion) throw Error("no schema version " + std::to_string(version));
  auto connection = std::make_unique<Connection>(path, true, key);
  prove_key_and_configure(*connection);
  add_migration_functions(*connection);
  Transaction transaction(*connection);
  for (int applied = 0; applied < version; ++applied) {
    connection->execute(kMigrations[static_cast<std::size_t>(applied)]);
  }
  connection->execute("PRAGMA user_version = " + std::to_string(version));
  Statement insert(*connection, "INSERT INTO meta (name, value) VALUES (?1, ?2)");
  insert.bind(1, std::string_view("database_id")).bind(2, database_id).run();
  transaction.commit();
}

const std::vector<std::string>& store_backends() {
  static const std::vector<std::string> kBackends = {"sqlcipher"};
  return kBackends;
}

namespace {

void require_known_backend(const StoreLocation& location) {
  if (location.backend != "sqlcipher") {
    throw Error("there is no store backend '" + location.backend + "' (this custos has sqlcipher)");
  }
}

}  // namespace

std::unique_ptr<Store> create_store(const StoreLocation& location, const SecureBuffer& key) {
  require_known_backend(location);
  return SqlCipherStore::create(location.path, key, location.database_id);
}

std::unique_ptr<Store> open_store(const StoreLocation& location, const SecureBuffer& key) {
  require_known_backend(location);
  return SqlCipherStore::open(location.path, key, location.database_id, location.page_cache_kib);
}

}  // namespace custos::storage
