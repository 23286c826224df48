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
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
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

class BackgroundCheckpointer;
class Connection;

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
  // Who copies the WAL into the database file: this, while it is set;
  // otherwise the connection whose commit grew the WAL past SQLite's
  // threshold, inside that commit (SQLite's own automatic checkpoint).
  // The mutex is held while a commit hands over to it.
  std::mutex checkpointer_mutex;
  BackgroundCheckpointer* checkpointer = nullptr;
  // The stores (store.cpp) this process has open on the file and, while
  // there are two or more, the connection they all write through, used
  // only under `writer`. SQLite empties a connection's page cache when
  // another connection has written, so stores that each wrote through
  // their own read every page of a write again (and SQLCipher decrypted
  // it) after another's: 37 page reads an issuance with four HTTP
  // clients, 4 through the shared writer. Reset when fewer than two are
  // left, which ends the cycle it makes (the connection holds this).
  std::mutex stores_mutex;
  int stores = 0;
  std::shared_ptr<Connection> writer_connection;
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
  // Rows the last INSERT, UPDATE or DELETE finished on this connection
  // inserted, changed or deleted.
  std::int64_t changes() const { return sqlite3_changes(db_); }

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

// Copies the WAL into the database file (a checkpoint) on a thread of its
// own, for every connection this process has to the file, so that no
// commit waits for it. SQLite's automatic checkpoint runs inside the
// commit that grew the WAL past 1,000 pages: that commit's caller, and
// every writer queued behind it, waits for the copy and an fdatasync of
// the database file (about a seventh of a bulk revocation's time in a
// store of a million certificates, bench/README.md).
//
// The WAL starts again from its beginning only when a write begins after
// a checkpoint copied all of it. A writer that keeps writing while the
// checkpoints run would grow it for ever, so a commit that leaves it at
// `bound_pages` or more waits, holding the writer lock, for a checkpoint
// that copies it all; the next write then starts it again.
class BackgroundCheckpointer {
 public:
  struct Limits {
    int start_pages = 1000;    // pages not yet copied that start a checkpoint (SQLite's own threshold)
    int bound_pages = 65536;   // 256 MiB of 4 KiB pages: a few batches of a bulk revocation
  };
  using FailureReport = std::function<void(const std::string& message)>;

  // Takes the checkpoints over from every connection of this process to
  // `own`'s file until it is destroyed. `own` is used by its thread alone.
  // A checkpoint that fails is reported and tried again after the next
  // commit: what it did not copy stays in the WAL.
  BackgroundCheckpointer(std::unique_ptr<Connection> own, FailureReport report_failure, Limits limits);
  BackgroundCheckpointer(std::unique_ptr<Connection> own, FailureReport report_failure)
      : BackgroundCheckpointer(std::move(own), std::move(report_failure), Limits{}) {}
  // Hands the checkpoints back to the committing connections.
  ~BackgroundCheckpointer();
  BackgroundCheckpointer(const BackgroundCheckpointer&) = delete;
  BackgroundCheckpointer& operator=(const BackgroundCheckpointer&) = delete;

  // From a commit, with the writer lock held: the WAL now holds
  // `wal_pages` pages.
  void after_commit(int wal_pages);
  // How many requests for a checkpoint have been served (0: none ran).
  std::uint64_t checkpoints_finished() const;

 private:
  void run();

  std::unique_ptr<Connection> own_;
  FailureReport report_failure_;
  Limits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  std::uint64_t requested_ = 0;      // checkpoints asked for
  std::uint64_t finished_count_ = 0; // every one asked for up to this has run
  int copied_pages_ = 0;             // how far into the WAL the last checkpoint copied
  bool stopping_ = false;
  std::thread thread_;  // started once the checkpointer is in place
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

// The writer lock of `connection`'s file (SharedDatabase::writer), waited
// for as long as SQLite's busy timeout; then a StorageError (SQLITE_BUSY)
// that names what was `doing` ("beginning a transaction").
std::unique_lock<std::timed_mutex> lock_writer(Connection& connection, const std::string& doing);

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
  // The same, waiting for the disk through `sync_through`: another
  // connection of this process to the file, which only the calling thread
  // uses (this one is the next writer's as soon as it is let go).
  void commit(Connection& sync_through);
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
