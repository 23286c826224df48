// RAII over the SQLCipher C API: a connection, prepared statements with
// typed binding (kept by the connection for reuse), and a transaction that
// rolls back unless committed, and whose commit is on the disk before
// commit() returns (group commit: see SharedDatabase).
//
//   Transaction transaction(connection);            // BEGIN IMMEDIATE
//   Statement insert(connection, "INSERT INTO t(x) VALUES (?1)");
//   insert.bind(1, value).run();
//   transaction.commit();                           // or ROLLBACK on unwind
//
// Every error is a StorageError whose message names the step and SQLite's
// own words ("opening custos.db: file is not a database").
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "common/secure_buffer.h"

namespace custos::storage {

class StorageError : public Error {
 public:
  CUSTOS_ERROR_TYPE(StorageError)
  StorageError(const std::string& message, int code) : Error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// The linked SQLCipher's version ("4.5.2 community"), read from an
// in-memory database.
std::string sqlcipher_version();

// What this process's connections to one database file share: the writer
// lock, and the group sync. Every connection runs with synchronous =
// NORMAL, so COMMIT appends to the WAL without an fsync; a commit that
// must be durable then waits for an fdatasync of the WAL that began after
// it, and one fdatasync serves every commit made before it began. That is
// what synchronous = FULL promises (the WAL synced after each commit), but
// done outside the writer lock: the next writer commits while this one
// waits for the disk, and concurrent commits share a sync.
struct SharedDatabase {
  std::timed_mutex writer;  // a Transaction holds it from BEGIN to COMMIT
  std::mutex sync_mutex;
  std::condition_variable synced;
  std::uint64_t committed = 0;  // commits made, numbered under `writer`
  std::uint64_t durable = 0;    // every commit up to this one is on the disk
  bool syncing = false;
  // Set by a failed sync, and for good: the kernel may since have dropped
  // the pages it could not write, so a later sync that succeeds proves
  // nothing about them. Every waiting and later commit fails with it.
  std::string sync_failure;
};

class Connection {
 public:
  // Opens (or, with `create`, creates) the file and applies `raw_key`
  // (32 bytes) with SQLCipher's pinned settings. Does not touch the file's
  // contents: `prove_key` does, first.
  Connection(const std::filesystem::path& path, bool create, const SecureBuffer& raw_key);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* get() const { return db_; }
  const std::filesystem::path& path() const { return path_; }
  // Shared by every connection this process has to the same file.
  SharedDatabase& shared() const { return *shared_; }
  // Returns once commit number `commit` (SharedDatabase::committed) is on
  // the disk: by an fdatasync of the WAL this connection makes, or one
  // another connection began after that commit.
  void wait_until_durable(std::uint64_t commit);

  // Runs statements that return no rows.
  void execute(const std::string& sql);

  // Throws StorageError with `step` and SQLite's message for a failed call.
  [[noreturn]] void fail(const std::string& step, int code) const;

 private:
  friend class Statement;
  // Prepared statements kept for reuse, by their SQL: preparing costs more
  // than running most of ours, and an issuance runs about seventeen. A
  // Statement takes an idle one (or prepares it) and gives it back reset.
  using IdleStatements = std::vector<sqlite3_stmt*>;
  IdleStatements& idle_statements(std::string_view sql) const;

  std::filesystem::path path_;
  std::shared_ptr<SharedDatabase> shared_;
  sqlite3* db_ = nullptr;
  mutable std::unordered_map<std::string, IdleStatements> idle_statements_;
};

class Statement {
 public:
  Statement(const Connection& connection, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, std::span<const std::uint8_t> value);
  Statement& bind_null(int index);

  // Steps once: true while there is a row to read.
  bool step();
  // Steps to completion, for statements that return no rows.
  void run();
  void reset();

  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;
  std::vector<std::uint8_t> column_blob(int index) const;
  bool column_is_null(int index) const;

 private:
  const Connection& connection_;
  Connection::IdleStatements& idle_;  // where it goes back to
  sqlite3_stmt* statement_ = nullptr;
};

class Transaction {
 public:
  // BEGIN IMMEDIATE: takes the write lock up front, so two writers queue on
  // the busy timeout instead of failing at their first write. Writers in
  // this process queue first on the shared writer lock, which hands over
  // at once, where SQLite's busy handler sleeps between tries (up to 100 ms
  // each); other processes still meet the busy timeout.
  explicit Transaction(Connection& connection);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Commits, lets the next writer in, and returns once the commit is on
  // the disk (a power cut keeps it).
  void commit();
  // Commits without waiting for the disk: the commit outlives this
  // process (the kernel holds the WAL's pages), and the next commit()
  // makes it durable with itself. For what nobody is told of yet.
  void commit_unsynced();

 private:
  // COMMIT, then its number, and the writer lock released.
  std::uint64_t commit_and_let_go();

  Connection& connection_;
  std::unique_lock<std::timed_mutex> writer_;
  bool done_ = false;
};

}  // namespace custos::storage
