// The store the engine keeps its records in. `Store` is the interface the
// engine codes against, so that a PostgreSQL backend can be added beside
// the SQLCipher one without touching the engine.
//
//   auto store = SqlCipherStore::create(dir / "custos.db", key, database_id);
//   store->append_audit({.actor = "cli", .event = "ca_created", .detail = {...}});
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/secure_buffer.h"

namespace custos::storage {

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
  std::vector<std::uint8_t> previous_hash;
  std::vector<std::uint8_t> hash;
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
  virtual std::vector<AuditRecord> audit_log() = 0;
};

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
                                     const std::string& expected_database_id);

  static constexpr int kSchemaVersion = 1;
};

}  // namespace custos::storage
