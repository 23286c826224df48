// The SQLCipher store: encrypted on disk, opened only by its key, one clear
// error for a wrong key, a damaged file or another CA's database, and an
// audit chain that detects edits.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "common/process.h"
#include "storage/audit.h"
#include "storage/sqlite.h"
#include "storage/store.h"
#include "tests/support/audit_log.h"
#include "tests/support/test_token.h"

namespace custos::storage {
namespace {

SecureBuffer key_of(std::uint8_t fill) {
  SecureBuffer key(32);
  std::fill(key.data(), key.data() + key.size(), fill);
  return key;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = testing::TestToken::instance().make_directory(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = directory_ / "custos.db";
  }

  std::string error_opening(const SecureBuffer& key, const std::string& id = "db-1") {
    try {
      SqlCipherStore::open(path_, key, id);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  }

  // A store made at schema `version` holding the rows `sql` writes, as a
  // custos of that version left it, then opened: brought up to date.
  std::unique_ptr<Store> upgraded_from(int version, const std::string& sql) {
    SqlCipherStore::create_at_version(path_, key_of(7), "db-1", version);
    {
      Connection connection(path_, false, key_of(7));
      connection.execute(sql);
    }
    return SqlCipherStore::open(path_, key_of(7), "db-1");
  }

  std::filesystem::path directory_;
  std::filesystem::path path_;
};

TEST_F(StoreTest, FileIsEncryptedAndReopensWithItsKey) {
  {
    auto store = SqlCipherStore::create(path_, key_of(7), "db-1");
    store->append_audit({"test", "ca_created", {{"subject", "CN=Test"}}});
  }
  std::string header = testing::read_file(path_).substr(0, 16);
  EXPECT_NE(header, std::string("SQLite format 3\0", 16));
  EXPECT_EQ(testing::read_file(path_).find("ca_created"), std::string::npos);

  auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
  EXPECT_EQ(store->database_id(), "db-1");
  EXPECT_EQ(store->schema_version(), SqlCipherStore::kSchemaVersion);
  ASSERT_EQ(testing::whole_audit_log(*store).size(), 1u);
  EXPECT_EQ(testing::whole_audit_log(*store)[0].event, "ca_created");
}

TEST_F(StoreTest, WrongKeyIsOneClearError) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  EXPECT_EQ(error_opening(key_of(8)),
            "the database key does not open " + path_.string() +
                ": it was made with another key, is not a Custos database, or is damaged");
}

TEST_F(StoreTest, FileThatIsNotADatabaseIsOneClearError) {
  testing::write_file(path_, std::string(8192, 'x'));
  EXPECT_NE(error_opening(key_of(7)).find("the database key does not open"), std::string::npos);
}

TEST_F(StoreTest, DamagedPageIsAnErrorNotACrash) {
  {
    auto store = SqlCipherStore::create(path_, key_of(7), "db-1");
    for (int i = 0; i < 50; ++i) store->append_audit({"test", "event", {{"i", i}}});
  }
  {
    std::fstream file(path_, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096 + 100);
    file.write("garbage!", 8);
  }
  std::string message;
  try {
    auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
    testing::whole_audit_log(*store);
  } catch (const Error& error) {
    message = error.what();
  }
  EXPECT_FALSE(message.empty()) << "a damaged page went unnoticed";
}

TEST_F(StoreTest, AnotherCasDatabaseIsRefused) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  EXPECT_EQ(error_opening(key_of(7), "db-2"),
            path_.string() + " belongs to another CA (database id db-1, the configuration names db-2)");
}

TEST_F(StoreTest, CreateRefusesAnExistingFile) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  EXPECT_THROW(SqlCipherStore::create(path_, key_of(7), "db-1"), Error);
}

TEST_F(StoreTest, AuditChainHoldsAndAnEditBreaksIt) {
  {
    auto store = SqlCipherStore::create(path_, key_of(7), "db-1");
    for (int i = 0; i < 5; ++i) store->append_audit({"test", "event", {{"i", i}}});
    EXPECT_EQ(first_broken_audit_entry(testing::whole_audit_log(*store)), std::nullopt);
  }
  {
    // Edit entry 3 behind the store's back, with the key.
    Connection connection(path_, false, key_of(7));
    connection.execute("UPDATE audit_log SET detail = '{\"i\":99}' WHERE id = 3");
  }
  auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
  EXPECT_EQ(first_broken_audit_entry(testing::whole_audit_log(*store)), std::optional<std::int64_t>(3));
}

// Connections of one process take turns to write through their shared
// writer lock (no SQLITE_BUSY, no busy-handler sleeps), and a commit is on
// the disk when commit() returns: by a sync of the WAL that began after
// it, which concurrent commits share (group commit).
TEST_F(StoreTest, ConcurrentCommitsAreOnTheDiskWhenCommitReturns) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  {
    Connection setup(path_, false, key_of(7));
    setup.execute("CREATE TABLE counted (thread INTEGER NOT NULL, n INTEGER NOT NULL)");
  }
  constexpr int kThreads = 4;
  constexpr int kCommits = 50;
  std::atomic<int> returned_before_the_disk{0};
  std::vector<std::thread> writers;
  for (int thread = 0; thread < kThreads; ++thread) {
    writers.emplace_back([&, thread] {
      Connection connection(path_, false, key_of(7));
      connection.execute("PRAGMA synchronous = NORMAL");
      for (int n = 1; n <= kCommits; ++n) {
        Transaction transaction(connection);
        Statement(connection, "INSERT INTO counted (thread, n) VALUES (?1, ?2)").bind(1, thread).bind(2, n).run();
        transaction.commit();
        // This thread's n-th commit has a number of n or more.
        SharedDatabase& shared = connection.shared();
        std::lock_guard lock(shared.sync_mutex);
        if (shared.durable < static_cast<std::uint64_t>(n)) ++returned_before_the_disk;
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(returned_before_the_disk, 0);
  Connection reader(path_, false, key_of(7));
  Statement count(reader, "SELECT count(*) FROM counted");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int(0), kThreads * kCommits);
}

int cache_misses(const Connection& connection) {
  int misses = 0;
  int highest = 0;
  sqlite3_db_status(connection.get(), SQLITE_DBSTATUS_CACHE_MISS, &misses, &highest, 0);
  return misses;
}

std::shared_ptr<Connection> shared_writer(const Connection& any_connection_to_the_file) {
  SharedDatabase& shared = any_connection_to_the_file.shared();
  std::lock_guard lock(shared.stores_mutex);
  return shared.writer_connection;
}

// SQLite empties a connection's page cache when another has written, so
// two stores that each wrote through their own connection read (and
// decrypted) every page of a write again after the other's. Stores of one
// process write through one connection instead, whose cache stays warm.
TEST_F(StoreTest, StoresOfOneProcessWriteThroughOneConnectionThatKeepsItsPages) {
  auto first = SqlCipherStore::create(path_, key_of(7), "db-1");
  Connection observer(path_, false, key_of(7));
  EXPECT_EQ(shared_writer(observer), nullptr) << "one store writes through its own connection";
  auto second = SqlCipherStore::open(path_, key_of(7), "db-1");
  std::shared_ptr<Connection> writer = shared_writer(observer);
  ASSERT_NE(writer, nullptr);

  for (int i = 0; i < 5; ++i) {
    first->append_audit({"first", "event", {{"i", i}}});
    second->append_audit({"second", "event", {{"i", i}}});
  }
  int misses_before = cache_misses(*writer);
  int changes_before = sqlite3_total_changes(writer->get());
  for (int i = 0; i < 50; ++i) {
    first->append_audit({"first", "event", {{"i", i}}});
    second->append_audit({"second", "event", {{"i", i}}});
  }
  EXPECT_EQ(sqlite3_total_changes(writer->get()) - changes_before, 100) << "both stores wrote through it";
  // Only the pages the log grows by are new to the cache (a hundred short
  // entries fill a few); each write read four or more again before.
  EXPECT_LT(cache_misses(*writer) - misses_before, 20);
  EXPECT_EQ(testing::whole_audit_log(*first).size(), 110u);
  EXPECT_EQ(first_broken_audit_entry(testing::whole_audit_log(*second)), std::nullopt);

  writer.reset();
  second.reset();
  EXPECT_EQ(shared_writer(observer), nullptr) << "the shared writer goes with the second store";
  first->append_audit({"first", "alone again", {}});
  EXPECT_EQ(testing::whole_audit_log(*first).size(), 111u);
}

int cache_hits(const Connection& connection) {
  int hits = 0;
  int highest = 0;
  sqlite3_db_status(connection.get(), SQLITE_DBSTATUS_CACHE_HIT, &hits, &highest, 0);
  return hits;
}

// custosd looks a client's certificate up on every call that carries one,
// between other engines' writes: through the shared writer, whose cache
// those writes leave warm, not through the store's own connection, whose
// cache each of them empties.
TEST_F(StoreTest, ACertificateIsLookedUpThroughTheSharedWriter) {
  auto first = SqlCipherStore::create(path_, key_of(7), "db-1");
  auto second = SqlCipherStore::open(path_, key_of(7), "db-1");
  Connection observer(path_, false, key_of(7));
  std::shared_ptr<Connection> writer = shared_writer(observer);
  ASSERT_NE(writer, nullptr);
  NewRequest request;
  request.csr = {0x30, 0x00};
  request.subject = "CN=client";
  request.profile = "client";
  request.requester = "test";
  std::int64_t id = first->add_request(request, {"test", "request_received", {}}).id;
  first->issue_certificate({"0C", id, {0x30, 0x01, 0x00}, "2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z", {}},
                           {RequestState::kReceived}, "issued", {"certificate_issued", id, "0C", {}},
                           {"test", "issued", {}});

  for (int i = 0; i < 3; ++i) {
    second->append_audit({"second", "event", {{"i", i}}});
    int hits_before = cache_hits(*writer);
    std::optional<CertificateRecord> found = first->find_certificate("0C");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->der, (std::vector<std::uint8_t>{0x30, 0x01, 0x00}));
    EXPECT_GT(cache_hits(*writer) - hits_before, 0) << "the lookup read the shared writer's cache";
  }
  EXPECT_FALSE(first->find_certificate("0D"));
}

// Stores on several threads, each writing through the shared connection
// in turn and waiting for the disk through its own: every commit is on the
// disk when it returns, and the audit chain they all append to holds.
TEST_F(StoreTest, StoresOnSeveralThreadsShareTheWriterAndEachCommitIsDurable) {
  auto first = SqlCipherStore::create(path_, key_of(7), "db-1");
  Connection observer(path_, false, key_of(7));
  constexpr int kThreads = 4;
  constexpr int kCommits = 30;
  std::atomic<int> returned_before_the_disk{0};
  std::vector<std::thread> writers;
  for (int thread = 0; thread < kThreads; ++thread) {
    writers.emplace_back([&, thread] {
      auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
      SharedDatabase& shared = observer.shared();
      for (int n = 0; n < kCommits; ++n) {
        // This append's commit is numbered after every commit made so far.
        std::uint64_t made_before = 0;
        {
          std::lock_guard lock(shared.sync_mutex);
          made_before = shared.committed;
        }
        store->append_audit({"thread " + std::to_string(thread), "event", {{"n", n}}});
        std::lock_guard lock(shared.sync_mutex);
        if (shared.durable <= made_before) ++returned_before_the_disk;
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(returned_before_the_disk, 0);
  std::vector<AuditRecord> log = testing::whole_audit_log(*first);
  EXPECT_EQ(log.size(), static_cast<std::size_t>(kThreads * kCommits));
  EXPECT_EQ(first_broken_audit_entry(log), std::nullopt);
}

// Where SQLite could not turn WAL on (the rollback journal is gone after
// the commit), commit() syncs the database file instead, and succeeds.
TEST_F(StoreTest, ACommitIsSyncedWithoutAWalToo) {
  Connection connection(path_, true, key_of(7));
  connection.execute("PRAGMA journal_mode = DELETE; PRAGMA synchronous = NORMAL");
  connection.execute("CREATE TABLE counted (n INTEGER NOT NULL)");
  Transaction transaction(connection);
  Statement(connection, "INSERT INTO counted (n) VALUES (1)").run();
  EXPECT_NO_THROW(transaction.commit());
  SharedDatabase& shared = connection.shared();
  std::lock_guard lock(shared.sync_mutex);
  EXPECT_EQ(shared.durable, shared.committed);
}

// Writes a row of about 3 KB per commit (a page of the table, and the
// pages above it), `count` times; returns the largest the WAL grew to.
std::uintmax_t commit_rows(Connection& writer, int count) {
  writer.execute("CREATE TABLE IF NOT EXISTS rows (n INTEGER NOT NULL, filler BLOB NOT NULL)");
  const std::vector<std::uint8_t> filler(3000, 0x5a);
  const std::filesystem::path wal = writer.path().string() + "-wal";
  std::uintmax_t largest_wal = 0;
  for (int n = 0; n < count; ++n) {
    Transaction transaction(writer);
    Statement(writer, "INSERT INTO rows (n, filler) VALUES (?1, ?2)").bind(1, n).bind(2, filler).run();
    transaction.commit_unsynced();
    largest_wal = std::max(largest_wal, std::filesystem::file_size(wal));
  }
  return largest_wal;
}

// The size of a WAL of `pages` pages (frames of 4 KiB and a header each).
std::uintmax_t wal_bytes(int pages) { return 32 + static_cast<std::uintmax_t>(pages) * (4096 + 24); }

// custosd's commits leave the copying of the WAL into the database file to
// a thread of its own; a WAL that reaches its bound is copied whole before
// the next write, which then starts it again from its beginning.
TEST_F(StoreTest, ABackgroundCheckpointerCopiesTheWalAndKeepsItWithinItsBound) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  Connection writer(path_, false, key_of(7));
  writer.execute("PRAGMA synchronous = NORMAL");
  std::atomic<int> failures{0};
  constexpr int kBound = 400;
  std::uintmax_t largest_wal = 0;
  {
    BackgroundCheckpointer checkpointer(
        std::make_unique<Connection>(path_, false, key_of(7)), [&](const std::string&) { ++failures; },
        {.start_pages = 100, .bound_pages = kBound});
    largest_wal = commit_rows(writer, 2000);  // some 6,000 pages of WAL
    EXPECT_GT(checkpointer.checkpoints_finished(), 0u);
  }
  EXPECT_EQ(failures, 0);
  EXPECT_LE(largest_wal, wal_bytes(kBound + 8));
  // What was copied is in the database file: every row but the last few.
  EXPECT_GT(std::filesystem::file_size(path_), 1500u * 4096);
  Statement count(writer, "SELECT count(*) FROM rows");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int(0), 2000);
}

// Without one (every process but custosd), the commit that grows the WAL
// past 1,000 pages copies it, as SQLite's own automatic checkpoint does.
TEST_F(StoreTest, WithoutABackgroundCheckpointerTheCommitsCopyTheWal) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  Connection writer(path_, false, key_of(7));
  writer.execute("PRAGMA synchronous = NORMAL");
  EXPECT_LE(commit_rows(writer, 2000), wal_bytes(BackgroundCheckpointer::Limits{}.start_pages + 8));
  EXPECT_GT(std::filesystem::file_size(path_), 1500u * 4096);
}

// EST finds a client's earlier request through an index of the SHA-256 of
// each CSR (schema 8), not one that held every CSR again; a store made at
// schema 7 gets the hashes of the requests it holds.
TEST_F(StoreTest, AnEarlierRequestIsFoundByTheHashOfItsCsrAlsoAfterTheUpgrade) {
  const std::vector<std::uint8_t> old_csr = {0x30, 0x03, 0x02, 0x01, 0x07};
  SqlCipherStore::create_at_version(path_, key_of(7), "db-1", 7);
  {
    Connection connection(path_, false, key_of(7));
    Statement insert(connection,
                     "INSERT INTO requests (state, csr, subject, profile, attributes, requester, message, submitted_at, "
                     "updated_at) VALUES ('pending', ?1, 'CN=old', 'server', '{}', 'est', '', 't', 't')");
    insert.bind(1, old_csr).run();
  }
  auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
  ASSERT_EQ(store->schema_version(), SqlCipherStore::kSchemaVersion);
  std::optional<RequestRecord> found = store->find_request_by_csr(old_csr, "est");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->subject, "CN=old");
  EXPECT_FALSE(store->find_request_by_csr(old_csr, "someone else").has_value());

  NewRequest request;
  request.csr = {0x30, 0x03, 0x02, 0x01, 0x08};
  request.requester = "est";
  std::int64_t id = store->add_request(request, {"test", "request_received", {}}).id;
  ASSERT_TRUE(store->find_request_by_csr(request.csr, "est").has_value());
  EXPECT_EQ(store->find_request_by_csr(request.csr, "est")->id, id);

  Connection connection(path_, false, key_of(7));
  Statement plan(connection, "EXPLAIN QUERY PLAN SELECT id FROM requests WHERE csr_sha256 = ?1");
  std::string steps;
  while (plan.step()) steps += plan.column_text(3) + "\n";
  EXPECT_NE(steps.find("requests_by_csr_sha256"), std::string::npos) << steps;
  Statement old_index(connection, "SELECT count(*) FROM sqlite_master WHERE name = 'requests_by_csr'");
  ASSERT_TRUE(old_index.step());
  EXPECT_EQ(old_index.column_int(0), 0);
}

// Schema 12 keeps the signing intents in one B-tree keyed by the serial:
// no index of SQLite's own beside it, which each reservation and each
// issuance wrote a page of. An intent waiting at the upgrade (its process
// died while the token signed) is still there to settle.
TEST_F(StoreTest, SigningIntentsAreOneTreeByTheirSerialAndOneWaitingAtTheUpgradeIsKept) {
  auto store = upgraded_from(
      11,
      "INSERT INTO requests (state, csr, subject, profile, attributes, requester, message, submitted_at, "
      "updated_at) VALUES ('received', x'3000', 'CN=old', 'server', '{}', 'cli', '', 't', 't');"
      "INSERT INTO signing_intents (serial, request_id, tbs, owner, reserved_at) "
      "VALUES ('5F', 1, x'010203', 'host/boot/1/1', 't');");
  std::vector<SigningIntent> waiting = store->signing_intents();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting.front().serial, "5F");
  EXPECT_EQ(waiting.front().request_id, 1);
  EXPECT_EQ(waiting.front().tbs, (std::vector<std::uint8_t>{1, 2, 3}));
  EXPECT_THROW(store->reserve_serial({"5F", 1, {4}, process_identity(), {}}), SerialCollision);
  store->settle_signing_intent("5F", {RequestState::kReceived}, RequestState::kPending, "settled",
                               {"test", "settled", {}});
  EXPECT_TRUE(store->signing_intents().empty());

  Connection connection(path_, false, key_of(7));
  Statement trees(connection, "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'signing_intents'");
  ASSERT_TRUE(trees.step());
  EXPECT_EQ(trees.column_int(0), 1);
}

// The id the store gives a new exit event, in an outbox otherwise empty.
std::int64_t id_of_a_new_event(Store& store) {
  NewRequest request;
  request.csr = {0x30, 0x00};
  request.requester = "upgrade";
  std::int64_t id = store.add_request(request, {"test", "request_received", {}}).id;
  store.record_event({"request_retrieved", id, {}, {}}, {"test", "retrieved", {}});
  std::vector<OutboxRecord> outbox = store.outbox();
  if (outbox.size() != 1) throw Error("the outbox holds " + std::to_string(outbox.size()) + " events, not 1");
  return outbox.front().id;
}

// Schema 10 numbers exit events so that an id is never given again: an
// event waiting at the upgrade keeps its id and acknowledgements, and the
// next one is numbered above every audit entry (each event was written with
// one), so above any id an emptied outbox gave before.
TEST_F(StoreTest, AnUpgradedOutboxKeepsItsEventsAndNumbersAboveEveryEarlierId) {
  auto store = upgraded_from(
      9,
      "INSERT INTO audit_log (id, at, actor, event, detail, previous_hash, hash) "
      "VALUES (41, 't', 'cli', 'request_retrieved', '{}', x'00', x'00');"
      "INSERT INTO outbox (id, event, request_id, created_at) VALUES (3, 'request_retrieved', 1, 't');"
      "INSERT INTO outbox_deliveries (event_id, module, delivered_at) VALUES (3, 'exit-1', 't');");
  std::vector<OutboxRecord> waiting = store->outbox();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting.front().id, 3);
  EXPECT_EQ(store->deliveries(3), std::vector<std::string>{"exit-1"});
  store->remove_events({3});
  EXPECT_TRUE(store->deliveries(3).empty());  // the acknowledgements still follow their event
  EXPECT_GT(id_of_a_new_event(*store), 41);
}

// The usual upgrade: nothing waits in the outbox, which had given ids up
// to the audit log's length; the next event is numbered above them.
TEST_F(StoreTest, AnEmptyOutboxUpgradedNumbersAboveEveryEarlierId) {
  auto store = upgraded_from(9,
                             "INSERT INTO audit_log (id, at, actor, event, detail, previous_hash, hash) "
                             "VALUES (41, 't', 'cli', 'request_retrieved', '{}', x'00', x'00');");
  ASSERT_TRUE(store->outbox().empty());
  EXPECT_GT(id_of_a_new_event(*store), 41);
}

// Each actor's name is stored once; the hashes cover the name, so renaming
// it there breaks the chain at the first entry it made.
TEST_F(StoreTest, ARenamedActorBreaksTheChainAtItsFirstEntry) {
  {
    auto store = SqlCipherStore::create(path_, key_of(7), "db-1");
    for (const char* actor : {"cli:uid=0", "cert:ab12", "cli:uid=0", "cert:ab12"}) store->append_audit({actor, "event", {}});
  }
  {
    Connection connection(path_, false, key_of(7));
    connection.execute("UPDATE audit_actors SET name = 'cert:ffff' WHERE name = 'cert:ab12'");
  }
  auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
  EXPECT_EQ(first_broken_audit_entry(testing::whole_audit_log(*store)), std::optional<std::int64_t>(2));
}

// Schema 11 keeps an audit entry's actor as a number and drops the
// previous entry's hash, stored with each entry until then. Entries made
// before keep their actors and their hashes, so the chain holds across the
// upgrade, new entries chain on, and an entry changed before the upgrade
// still breaks it.
class AuditAtSchema10 : public StoreTest {
 protected:
  // Entries 1 to 4 chained as a custos of schema 10 wrote them; entry 3's
  // detail is then changed when `tamper` says so.
  void make(bool tamper) {
    SqlCipherStore::create_at_version(path_, key_of(7), "db-1", 10);
    Connection connection(path_, false, key_of(7));
    std::vector<std::uint8_t> previous(kAuditHashBytes, 0);
    std::int64_t id = 0;
    for (const char* actor : {"cli:uid=0", "cert:ab12", "cli:uid=0", "cert:ab12"}) {
      ++id;
      std::string detail = "{\"i\":" + std::to_string(id) + "}";
      std::vector<std::uint8_t> hash = audit_hash(previous, id, "2026-01-01T00:00:00Z", actor, "event", detail);
      Statement insert(connection,
                       "INSERT INTO audit_log (id, at, actor, event, detail, previous_hash, hash) "
                       "VALUES (?1, '2026-01-01T00:00:00Z', ?2, 'event', ?3, ?4, ?5)");
      insert.bind(1, id).bind(2, std::string(actor)).bind(3, detail).bind(4, previous).bind(5, hash).run();
      previous = hash;
    }
    if (tamper) connection.execute("UPDATE audit_log SET detail = '{\"i\":99}' WHERE id = 3");
  }
};

TEST_F(AuditAtSchema10, UpgradedEntriesKeepTheirActorsAndChainOn) {
  make(false);
  auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
  store->append_audit({"cert:cd34", "event", {{"i", 5}}});
  store->append_audit({"cli:uid=0", "event", {{"i", 6}}});
  std::vector<AuditRecord> log = testing::whole_audit_log(*store);
  std::vector<std::string> actors;
  for (const AuditRecord& record : log) actors.push_back(record.actor);
  EXPECT_EQ(actors, (std::vector<std::string>{"cli:uid=0", "cert:ab12", "cli:uid=0", "cert:ab12", "cert:cd34",
                                              "cli:uid=0"}));
  EXPECT_EQ(first_broken_audit_entry(log), std::nullopt);
  store.reset();
  // Each actor's name is stored once.
  Connection connection(path_, false, key_of(7));
  Statement names(connection, "SELECT count(*) FROM audit_actors");
  ASSERT_TRUE(names.step());
  EXPECT_EQ(names.column_int(0), 3);
}

TEST_F(AuditAtSchema10, AnEntryChangedBeforeTheUpgradeStillBreaksTheChain) {
  make(true);
  auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
  EXPECT_EQ(first_broken_audit_entry(testing::whole_audit_log(*store)), std::optional<std::int64_t>(3));
}

// The CRL is written as its entries are read, so they come in the order
// of their serials as numbers (0F before 0100), which the text alone would
// not give; a store made at schema 8 gets the index that keeps that order.
TEST_F(StoreTest, RevokedCertificatesComeInTheOrderOfTheirNumbersAlsoAfterTheUpgrade) {
  SqlCipherStore::create_at_version(path_, key_of(7), "db-1", 8);
  {
    Connection connection(path_, false, key_of(7));
    int id = 0;
    for (const char* serial : {"0100", "0F", "7F", "FF00", "10", "01", "ABCDEF"}) {
      ++id;
      Statement request(connection,
                        "INSERT INTO requests (id, state, csr, subject, profile, attributes, requester, message, "
                        "submitted_at, updated_at) VALUES (?1, 'issued', x'3000', 'CN=x', 'server', '{}', 'cli', '', 't', 't')");
      request.bind(1, static_cast<std::int64_t>(id)).run();
      Statement certificate(connection,
                            "INSERT INTO certificates (serial, request_id, der, not_before, not_after, revoked_at, "
                            "revocation_reason) VALUES (?1, ?2, x'3000', '2026-01-01T00:00:00Z', '2030-01-01T00:00:00Z', "
                            "'2026-06-01T00:00:00Z', 'superseded')");
      certificate.bind(1, std::string_view(serial)).bind(2, static_cast<std::int64_t>(id)).run();
    }
  }
  auto store = SqlCipherStore::open(path_, key_of(7), "db-1");
  std::vector<std::string> serials;
  store->for_each_revoked_certificate("2026-12-01T00:00:00Z",
                                      [&](const RevokedCertificate& revoked) { serials.push_back(revoked.serial); });
  EXPECT_EQ(serials, (std::vector<std::string>{"01", "0F", "10", "7F", "0100", "FF00", "ABCDEF"}));
}

// SQLite's plan for `query` with `parameter` as ?1: a line for each step.
std::string query_plan(const Connection& connection, const char* query, std::string_view parameter) {
  Statement plan(connection, std::string("EXPLAIN QUERY PLAN ") + query);
  plan.bind(1, parameter);
  std::string steps;
  while (plan.step()) steps += plan.column_text(3) + "\n";
  return steps;
}

// The CRL is built from the revoked certificates alone: SQLite reads them
// from the partial index, in serial order, and never walks the whole
// certificates table (which grows with every issuance) or its DER.
TEST_F(StoreTest, TheCrlQueryReadsOnlyTheRevokedIndex) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  Connection connection(path_, false, key_of(7));
  std::string steps = query_plan(connection, SqlCipherStore::kRevokedForCrlQuery, "2026-12-01T00:00:00Z");
  // One step, no sort ("USE TEMP B-TREE FOR ORDER BY"); SQLite's own
  // wording varies by version ("SCAN TABLE certificates …" in older ones).
  EXPECT_EQ(std::count(steps.begin(), steps.end(), '\n'), 1) << steps;
  EXPECT_NE(steps.find("certificates USING COVERING INDEX certificates_revoked\n"), std::string::npos) << steps;
}

// An OCSP lookup reads no row of the certificates table (a random page of
// hundreds of megabytes in a large store), only the serial's index and the
// revoked certificates' index.
TEST_F(StoreTest, TheRevocationStatusQueriesReadOnlyIndexes) {
  SqlCipherStore::create(path_, key_of(7), "db-1");
  Connection connection(path_, false, key_of(7));
  for (const char* query : {SqlCipherStore::kIssuedSerialQuery, SqlCipherStore::kRevocationOfSerialQuery}) {
    std::string steps = query_plan(connection, query, "3D");
    EXPECT_EQ(std::count(steps.begin(), steps.end(), '\n'), 1) << steps;
    EXPECT_NE(steps.find("certificates USING COVERING INDEX "), std::string::npos) << steps;
  }
}

}  // namespace
}  // namespace custos::storage
