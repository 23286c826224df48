#include "storage/store.h"

#include <array>

#include "common/clock.h"
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
};

class SqlCipherStoreImpl final : public Store {
 public:
  explicit SqlCipherStoreImpl(std::unique_ptr<Connection> connection) : connection_(std::move(connection)) {}

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
    Transaction transaction(*connection_);
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
                     "INSERT INTO audit_log (id, at, actor, event, detail, previous_hash, hash) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    insert.bind(1, id).bind(2, at).bind(3, event.actor).bind(4, event.event).bind(5, detail).bind(6, previous);
    insert.bind(7, hash).run();
    transaction.commit();
  }

  std::vector<AuditRecord> audit_log() override {
    Statement select(*connection_,
                     "SELECT id, at, actor, event, detail, previous_hash, hash FROM audit_log ORDER BY id");
    std::vector<AuditRecord> records;
    while (select.step()) {
      records.push_back({select.column_int(0), select.column_text(1), select.column_text(2), select.column_text(3),
                         select.column_text(4), select.column_blob(5), select.column_blob(6)});
    }
    return records;
  }

  void migrate() {
    int version = schema_version();
    if (version > SqlCipherStore::kSchemaVersion) {
      throw Error(connection_->path().string() + " has schema version " + std::to_string(version) +
                  ", newer than this custos understands (" + std::to_string(SqlCipherStore::kSchemaVersion) +
                  "); upgrade custos");
    }
    for (int next = version + 1; next <= SqlCipherStore::kSchemaVersion; ++next) {
      Transaction transaction(*connection_);
      connection_->execute(kMigrations[static_cast<std::size_t>(next - 1)]);
      connection_->execute("PRAGMA user_version = " + std::to_string(next));
      transaction.commit();
    }
  }

  Connection& connection() { return *connection_; }

 private:
  std::unique_ptr<Connection> connection_;
};

// Proves the key with a read, then sets the journal (only after the key:
// set before it, SQLCipher answers "file is not a database").
void prove_key_and_configure(Connection& connection) {
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
  connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
}

}  // namespace

std::unique_ptr<Store> SqlCipherStore::create(const std::filesystem::path& path, const SecureBuffer& key,
                                              const std::string& database_id) {
  if (std::filesystem::exists(path)) throw Error("the database " + path.string() + " already exists");
  auto connection = std::make_unique<Connection>(path, true, key);
  // Encrypted, but still nobody else's business; SQLite gives its -wal and
  // -shm files the same mode.
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  prove_key_and_configure(*connection);
  auto store = std::make_unique<SqlCipherStoreImpl>(std::move(connection));
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
                                            const std::string& expected_database_id) {
  if (!std::filesystem::exists(path)) throw Error("the database " + path.string() + " does not exist");
  auto connection = std::make_unique<Connection>(path, false, key);
  prove_key_and_configure(*connection);
  auto store = std::make_unique<SqlCipherStoreImpl>(std::move(connection));
  std::string found = store->database_id();
  if (found != expected_database_id) {
    throw Error(path.string() + " belongs to another CA (database id " + found + ", the configuration names " +
                expected_database_id + ")");
  }
  store->migrate();
  return store;
}

}  // namespace custos::storage
