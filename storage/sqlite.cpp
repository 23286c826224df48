#include "storage/sqlite.h"

#include <sodium.h>

#include <algorithm>
#include <map>

namespace custos::storage {
namespace {

// How long a writer waits for another process's transaction before the
// attempt fails; several `custos` processes share one CA directory.
constexpr int kBusyTimeoutMs = 30000;

// What this process's connections to the database at `path` share, gone
// with the last of them.
std::shared_ptr<SharedDatabase> shared_database(const std::filesystem::path& path) {
  static std::mutex registry_mutex;
  static std::map<std::filesystem::path, std::weak_ptr<SharedDatabase>> registry;
  std::filesystem::path key = std::filesystem::weakly_canonical(path);
  std::lock_guard lock(registry_mutex);
  std::erase_if(registry, [](const auto& entry) { return entry.second.expired(); });
  std::weak_ptr<SharedDatabase>& slot = registry[key];
  std::shared_ptr<SharedDatabase> shared = slot.lock();
  if (!shared) {
    shared = std::make_shared<SharedDatabase>();
    slot = shared;
  }
  return shared;
}

// Every commit of every connection ends here (sqlite3_wal_hook, which
// takes the place of SQLite's automatic checkpoint): it goes to the
// process's background checkpointer, or, without one, follows SQLite's own
// rule, as sqlite3_wal_autocheckpoint's hook does (and as it does, leaves
// a checkpoint that fails to the next commit: what it did not copy stays
// in the WAL).
int after_commit(void* context, sqlite3* db, const char* schema, int wal_pages) {
  SharedDatabase& shared = *static_cast<SharedDatabase*>(context);
  std::lock_guard lock(shared.checkpointer_mutex);
  if (shared.checkpointer != nullptr) {
    shared.checkpointer->after_commit(wal_pages);
  } else if (wal_pages >= BackgroundCheckpointer::Limits{}.start_pages) {
    sqlite3_wal_checkpoint(db, schema);
  }
  return SQLITE_OK;
}

}  // namespace

Connection::Connection(const std::filesystem::path& path, bool create, const SecureBuffer& raw_key)
    : path_(path), shared_(shared_database(path)) {
  if (raw_key.size() != 32) throw Error("the database key must be 32 bytes");
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int code = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (code != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StorageError("opening the database " + path.string() + ": " + message, code);
  }
  sqlite3_extended_result_codes(db_, 1);

  // A raw key in SQLCipher's x'…' form, so no passphrase KDF runs; built
  // and handed over in locked memory.
  SecureBuffer hex = raw_key.to_hex();
  SecureBuffer blob(hex.size() + 3);
  blob.data()[0] = 'x';
  blob.data()[1] = '\'';
  std::copy(hex.data(), hex.data() + hex.size(), blob.data() + 2);
  blob.data()[blob.size() - 1] = '\'';
  code = sqlite3_key(db_, blob.data(), static_cast<int>(blob.size()));
  if (code != SQLITE_OK) fail("keying the database", code);

  // Pinned explicitly so a later SQLCipher with other defaults still opens
  // the file (SQLCipher 3.4 settings; the KDF iterations matter only for
  // the HMAC key derivation when the key is raw).
  execute(
      "PRAGMA cipher_page_size = 4096;"
      "PRAGMA kdf_iter = 64000;"
      "PRAGMA fast_kdf_iter = 2;"
      "PRAGMA cipher_use_hmac = ON;");
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  sqlite3_wal_hook(db_, after_commit, shared_.get());
}

Connection::~Connection() {
  for (auto& [sql, statements] : idle_statements_) {
    for (sqlite3_stmt* statement : statements) sqlite3_finalize(statement);
  }
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Connection::IdleStatements& Connection::idle_statements(std::string_view sql) const {
  return idle_statements_[std::string(sql)];
}

void Connection::execute(const std::string& sql) {
  char* message = nullptr;
  int code = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (code != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(code);
    sqlite3_free(message);
    throw StorageError(path_.filename().string() + ": " + text, code);
  }
}

void Connection::wait_until_durable(std::uint64_t commit) {
  SharedDatabase& shared = *shared_;
  std::unique_lock lock(shared.sync_mutex);
  while (shared.durable < commit) {
    if (!shared.sync_failure.empty()) throw StorageError(shared.sync_failure, SQLITE_IOERR_FSYNC);
    if (shared.syncing) {
      shared.synced.wait(lock);
      continue;
    }
    // This sync covers every commit made so far: each was numbered after
    // its COMMIT had written its frames to the WAL.
    std::uint64_t covers = shared.committed;
    shared.syncing = true;
    lock.unlock();
    // The WAL, where a commit is; without one (a file system on which
    // SQLite could not turn WAL on), the database file itself.
    sqlite3_file* file = nullptr;
    if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &file) != SQLITE_OK || file == nullptr ||
        file->pMethods == nullptr) {
      file = nullptr;
      sqlite3_file_control(db_, "main", SQLITE_FCNTL_FILE_POINTER, &file);
    }
    int code = file != nullptr && file->pMethods != nullptr ? file->pMethods->xSync(file, SQLITE_SYNC_NORMAL)
                                                            : SQLITE_IOERR_FSYNC;
    lock.lock();
    shared.syncing = false;
    if (code == SQLITE_OK) {
      shared.durable = std::max(shared.durable, covers);
    } else {
      shared.sync_failure = "syncing " + path_.filename().string() + " to the disk failed (" + sqlite3_errstr(code) +
                            "); what was committed since the last sync may be lost: stop, check the disk, start again";
    }
    shared.synced.notify_all();
  }
}

void Connection::fail(const std::string& step, int code) const {
  throw StorageError(step + " (" + path_.filename().string() + "): " + sqlite3_errmsg(db_), code);
}

BackgroundCheckpointer::BackgroundCheckpointer(std::unique_ptr<Connection> own, FailureReport report_failure,
                                               Limits limits)
    : own_(std::move(own)), report_failure_(std::move(report_failure)), limits_(limits) {
  // A connection finds the WAL at its first read; a checkpoint before that
  // copies nothing, and says so only by a count of -1.
  own_->execute("SELECT count(*) FROM sqlite_master");
  SharedDatabase& shared = own_->shared();
  {
    std::lock_guard lock(shared.checkpointer_mutex);
    if (shared.checkpointer != nullptr) {
      throw Error(own_->path().string() + " already has a background checkpointer in this process");
    }
    shared.checkpointer = this;
  }
  thread_ = std::thread(&BackgroundCheckpointer::run, this);
}

BackgroundCheckpointer::~BackgroundCheckpointer() {
  {
    // Waits for a commit that is handing over to finish.
    SharedDatabase& shared = own_->shared();
    std::lock_guard lock(shared.checkpointer_mutex);
    shared.checkpointer = nullptr;
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BackgroundCheckpointer::after_commit(int wal_pages) {
  std::unique_lock lock(mutex_);
  // Fewer pages than the last checkpoint copied: the WAL started again
  // from its beginning since, and all of it is new.
  int uncopied = wal_pages >= copied_pages_ ? wal_pages - copied_pages_ : wal_pages;
  bool at_bound = wal_pages >= limits_.bound_pages;
  if (uncopied < limits_.start_pages && !at_bound) return;
  std::uint64_t ticket = ++requested_;
  wake_.notify_one();
  if (at_bound) finished_.wait(lock, [&] { return finished_count_ >= ticket || stopping_; });
}

std::uint64_t BackgroundCheckpointer::checkpoints_finished() const {
  std::lock_guard lock(mutex_);
  return finished_count_;
}

void BackgroundCheckpointer::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || requested_ > finished_count_; });
    if (stopping_) return;
    // One checkpoint serves every request made before it begins: each came
    // after its commit.
    std::uint64_t covers = requested_;
    lock.unlock();
    int wal_pages = 0;
    int copied = 0;
    // PASSIVE: copies what no reader still needs from the WAL, and never
    // waits for a reader or a writer.
    int code = sqlite3_wal_checkpoint_v2(own_->get(), "main", SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
    // SQLITE_BUSY: another process is checkpointing the same file.
    if (code != SQLITE_OK && code != SQLITE_BUSY) {
      report_failure_("checkpointing " + own_->path().filename().string() + " (copying its WAL into it): " +
                      sqlite3_errmsg(own_->get()) + "; tried again after the next commit");
    }
    lock.lock();
    if (code == SQLITE_OK) copied_pages_ = std::max(copied, 0);
    finished_count_ = covers;
    finished_.notify_all();
  }
}

Statement::Statement(const Connection& connection, std::string_view sql)
    : connection_(connection), idle_(connection.idle_statements(sql)) {
  if (!idle_.empty()) {
    statement_ = idle_.back();
    idle_.pop_back();
    return;
  }
  int code = sqlite3_prepare_v2(connection.get(), sql.data(), static_cast<int>(sql.size()), &statement_, nullptr);
  if (code != SQLITE_OK) connection.fail("preparing a statement", code);
}

Statement::~Statement() {
  // Reset, it holds no lock and no bound value, and is as good as new.
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
  idle_.push_back(statement_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  int code = sqlite3_bind_int64(statement_, index, value);
  if (code != SQLITE_OK) connection_.fail("binding a value", code);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  int code = sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  if (code != SQLITE_OK) connection_.fail("binding a value", code);
  return *this;
}

Statement& Statement::bind(int index, std::span<const std::uint8_t> value) {
  int code = sqlite3_bind_blob(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  if (code != SQLITE_OK) connection_.fail("binding a value", code);
  return *this;
}

Statement& Statement::bind_null(int index) {
  int code = sqlite3_bind_null(statement_, index);
  if (code != SQLITE_OK) connection_.fail("binding a value", code);
  return *this;
}

bool Statement::step() {
  int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  connection_.fail("running a statement", code);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(statement_, index); }

std::string Statement::column_text(int index) const {
  const unsigned char* text = sqlite3_column_text(statement_, index);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text),
                                                       static_cast<std::size_t>(sqlite3_column_bytes(statement_, index)));
}

std::vector<std::uint8_t> Statement::column_blob(int index) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(statement_, index));
  return data == nullptr ? std::vector<std::uint8_t>()
                         : std::vector<std::uint8_t>(data, data + sqlite3_column_bytes(statement_, index));
}

bool Statement::column_is_null(int index) const { return sqlite3_column_type(statement_, index) == SQLITE_NULL; }

std::unique_lock<std::timed_mutex> lock_writer(Connection& connection, const std::string& doing) {
  std::unique_lock writer(connection.shared().writer, std::defer_lock);
  if (!writer.try_lock_for(std::chrono::milliseconds(kBusyTimeoutMs))) {
    throw StorageError(doing + " (" + connection.path().filename().string() +
                           "): another thread of this process kept the database locked for " +
                           std::to_string(kBusyTimeoutMs / 1000) + " s",
                       SQLITE_BUSY);
  }
  return writer;
}

Transaction::Transaction(Connection& connection) : connection_(connection) {
  {
    SharedDatabase& shared = connection.shared();
    std::lock_guard failed(shared.sync_mutex);
    if (!shared.sync_failure.empty()) throw StorageError(shared.sync_failure, SQLITE_IOERR_FSYNC);
  }
  writer_ = lock_writer(connection_, "beginning a transaction");
  connection_.execute("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(connection_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

std::uint64_t Transaction::commit_and_let_go() {
  connection_.execute("COMMIT");
  done_ = true;
  std::uint64_t number = 0;
  {
    SharedDatabase& shared = connection_.shared();
    std::lock_guard lock(shared.sync_mutex);
    number = ++shared.committed;
  }
  writer_.unlock();
  return number;
}

void Transaction::commit() { commit(connection_); }

void Transaction::commit(Connection& sync_through) { sync_through.wait_until_durable(commit_and_let_go()); }

void Transaction::commit_unsynced() { commit_and_let_go(); }

std::string sqlcipher_version() {
  sqlite3* db = nullptr;
  std::string version = "unknown";
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA cipher_version;", -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0) != nullptr) {
      version = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return version + " (SQLite " + sqlite3_libversion() + ")";
}

}  // namespace custos::storage
