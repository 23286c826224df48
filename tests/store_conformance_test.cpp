// The Store conformance suite: what the engine relies on from any store
// backend, written against the interface and run for every backend
// open_store knows (today: sqlcipher). A new backend passes this suite
// before the engine may use it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/process.h"
#include "storage/audit.h"
#include "storage/store.h"
#include "tests/support/audit_log.h"
#include "tests/support/test_token.h"

namespace custos::storage {
namespace {

constexpr RequestState kStates[] = {RequestState::kReceived, RequestState::kPending, RequestState::kIssued,
                                    RequestState::kDenied,   RequestState::kRevoked, RequestState::kFailed};

SecureBuffer test_key() {
  SecureBuffer key(32);
  std::fill(key.data(), key.data() + key.size(), std::uint8_t{0x5a});
  return key;
}

// What differs per backend: how to make one at an older schema version.
struct Backend {
  std::string name;
  int schema_version;
  std::function<void(const StoreLocation&, const SecureBuffer&, int version)> create_at_version;
};

void PrintTo(const Backend& backend, std::ostream* out) { *out << backend.name; }

std::vector<Backend> backends() {
  return {{"sqlcipher", SqlCipherStore::kSchemaVersion,
           [](const StoreLocation& location, const SecureBuffer& key, int version) {
             SqlCipherStore::create_at_version(location.path, key, location.database_id, version);
           }}};
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    directory_ = testing::TestToken::instance().make_directory(name);
    location_ = {GetParam().name, directory_ / "store.db", "db-conformance"};
    store_ = create_store(location_, key_);
  }

  // Another handle on the same store, as another process's engine has.
  std::unique_ptr<Store> another() { return open_store(location_, key_); }

  std::int64_t request_in(RequestState state) {
    NewRequest request;
    request.csr = {0x30, 0x00};
    request.subject = "CN=conformance";
    request.profile = "server";
    request.requester = "test";
    request.state = state;
    return store_->add_request(request, {"test", "request_received", {}}).id;
  }

  RequestState state_of(std::int64_t id) { return store_->find_request(id)->state; }

  CertificateRecord certificate(const std::string& serial, std::int64_t request_id) {
    return {serial, request_id, {0x30, 0x01, 0x00}, "2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z", std::nullopt};
  }

  std::filesystem::path directory_;
  SecureBuffer key_ = test_key();
  StoreLocation location_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, ARequestMovesOnlyFromTheStateTheCallerNamesAndARefusalChangesNothing) {
  for (RequestState current : kStates) {
    for (RequestState expected : kStates) {
      std::int64_t id = request_in(current);
      std::size_t audit_before = testing::whole_audit_log(*store_).size();
      std::size_t outbox_before = store_->outbox().size();
      ExitEvent event{"request_pending", id, {}, {}};
      if (current == expected) {
        store_->change_request_state(id, {expected}, RequestState::kPending, "moved", event, {"test", "moved", {}});
        EXPECT_EQ(state_of(id), RequestState::kPending);
        EXPECT_EQ(store_->find_request(id)->message, "moved");
        EXPECT_EQ(testing::whole_audit_log(*store_).size(), audit_before + 1);
        EXPECT_EQ(store_->outbox().size(), outbox_before + 1);
      } else {
        EXPECT_THROW(store_->change_request_state(id, {expected}, RequestState::kPending, "moved", event,
                                                  {"test", "moved", {}}),
                     StateConflict)
            << request_state_name(current) << " taken for " << request_state_name(expected);
        EXPECT_EQ(state_of(id), current);
        EXPECT_EQ(testing::whole_audit_log(*store_).size(), audit_before);
        EXPECT_EQ(store_->outbox().size(), outbox_before);
      }
    }
  }
  EXPECT_THROW(store_->change_request_state(999999, {RequestState::kReceived}, RequestState::kPending, "", std::nullopt,
                                            {"test", "moved", {}}),
               StateConflict);
}

// A listing comes a page at a time, newest first: `after` the last id of
// the page before, at most `limit`, in one state or all.
TEST_P(StoreConformance, RequestsAreListedAPageAtATimeNewestFirst) {
  std::vector<std::int64_t> pending;
  std::vector<std::int64_t> all;
  for (int index = 0; index < 7; ++index) {
    RequestState state = index % 2 == 0 ? RequestState::kPending : RequestState::kDenied;
    all.push_back(request_in(state));
    if (state == RequestState::kPending) pending.push_back(all.back());
  }
  auto ids = [](const std::vector<RequestRecord>& records) {
    std::vector<std::int64_t> listed;
    for (const RequestRecord& record : records) listed.push_back(record.id);
    return listed;
  };
  std::vector<std::int64_t> newest_first(all.rbegin(), all.rend());
  EXPECT_EQ(ids(store_->list_requests(std::nullopt, {})), newest_first);
  EXPECT_EQ(ids(store_->list_requests(std::nullopt, {std::nullopt, 3})),
            std::vector<std::int64_t>(newest_first.begin(), newest_first.begin() + 3));
  EXPECT_EQ(ids(store_->list_requests(std::nullopt, {newest_first[2], 3})),
            std::vector<std::int64_t>(newest_first.begin() + 3, newest_first.begin() + 6));
  EXPECT_EQ(ids(store_->list_requests(std::nullopt, {newest_first[5], 3})),
            std::vector<std::int64_t>(newest_first.begin() + 6, newest_first.end()));
  EXPECT_EQ(ids(store_->list_requests(RequestState::kPending, {pending.back(), std::nullopt})),
            std::vector<std::int64_t>(pending.rbegin() + 1, pending.rend()));
}

TEST_P(StoreConformance, ACertificateNeedsItsRequestInTheNamedStateAndAFreeSerial) {
  std::int64_t pending = request_in(RequestState::kPending);
  EXPECT_THROW(store_->issue_certificate(certificate("0A", pending), {RequestState::kReceived}, "issued",
                                         {"certificate_issued", pending, "0A", {}}, {"test", "issued", {}}),
               StateConflict);
  EXPECT_FALSE(store_->find_certificate("0A"));
  std::int64_t first = request_in(RequestState::kReceived);
  store_->issue_certificate(certificate("0A", first), {RequestState::kReceived}, "issued",
                            {"certificate_issued", first, "0A", {}}, {"test", "issued", {}});
  EXPECT_EQ(state_of(first), RequestState::kIssued);
  EXPECT_EQ(store_->find_request(first)->serial, "0A");
  std::int64_t second = request_in(RequestState::kReceived);
  std::size_t audit_before = testing::whole_audit_log(*store_).size();
  EXPECT_THROW(store_->issue_certificate(certificate("0A", second), {RequestState::kReceived}, "issued",
                                         {"certificate_issued", second, "0A", {}}, {"test", "issued", {}}),
               SerialCollision);
  EXPECT_EQ(state_of(second), RequestState::kReceived);
  EXPECT_EQ(testing::whole_audit_log(*store_).size(), audit_before);
  EXPECT_EQ(store_->find_certificate("0A")->request_id, first);
}

TEST_P(StoreConformance, ASigningIntentHoldsItsSerialUntilTheCertificateOrARelease) {
  std::int64_t id = request_in(RequestState::kReceived);
  std::string owner = process_identity();
  store_->reserve_serial({"1B", id, {1, 2, 3}, owner, {}});
  ASSERT_EQ(store_->signing_intents().size(), 1u);
  EXPECT_EQ(store_->signing_intents()[0].tbs, (std::vector<std::uint8_t>{1, 2, 3}));
  EXPECT_EQ(store_->signing_intents()[0].owner, owner);
  // Another engine cannot take the reserved serial.
  EXPECT_THROW(another()->reserve_serial({"1B", id, {4}, owner, {}}), SerialCollision);
  // The certificate clears the intent in the transaction that stores it.
  store_->issue_certificate(certificate("1B", id), {RequestState::kReceived}, "issued",
                            {"certificate_issued", id, "1B", {}}, {"test", "issued", {}});
  EXPECT_TRUE(store_->signing_intents().empty());
  EXPECT_THROW(store_->reserve_serial({"1B", id, {5}, owner, {}}), SerialCollision);
  // A release gives the serial back.
  std::int64_t other = request_in(RequestState::kReceived);
  store_->reserve_serial({"2C", other, {6}, owner, {}});
  store_->release_serial("2C");
  EXPECT_TRUE(store_->signing_intents().empty());
  store_->reserve_serial({"2C", other, {7}, owner, {}});
  // Settling an abandoned intent: removed, audited and its request moved, in one go.
  std::size_t audit_before = testing::whole_audit_log(*store_).size();
  store_->settle_signing_intent("2C", {RequestState::kReceived}, RequestState::kPending, "unrecorded",
                                {"test", "unrecorded_signature", {{"serial", "2C"}}});
  EXPECT_TRUE(store_->signing_intents().empty());
  EXPECT_EQ(state_of(other), RequestState::kPending);
  EXPECT_EQ(testing::whole_audit_log(*store_).size(), audit_before + 1);
  EXPECT_EQ(testing::whole_audit_log(*store_).back().event, "unrecorded_signature");
  EXPECT_THROW(store_->settle_signing_intent("2C", {RequestState::kReceived}, RequestState::kPending, "again",
                                             {"test", "unrecorded_signature", {}}),
               StateConflict);
}

TEST_P(StoreConformance, ARevocationChangesOnlyTheReasonTheCallerExpects) {
  std::int64_t id = request_in(RequestState::kReceived);
  store_->issue_certificate(certificate("3D", id), {RequestState::kReceived}, "issued",
                            {"certificate_issued", id, "3D", {}}, {"test", "issued", {}});
  Revocation hold{"2026-12-01T00:00:00Z", "certificateHold", std::nullopt};
  auto change = [&](const std::string& serial, std::optional<std::string> expected, std::optional<Revocation> to) {
    return std::vector<RevocationChange>{{serial, std::move(expected), std::move(to),
                                          {"certificate_revoked", id, serial, {}}, {"test", "revocation", {}}}};
  };
  store_->set_revocations(change("3D", std::nullopt, hold));
  EXPECT_EQ(store_->find_certificate("3D")->revocation->reason, "certificateHold");
  EXPECT_EQ(store_->find_request(id)->state, RequestState::kRevoked);
  EXPECT_THROW(store_->set_revocations(change("3D", std::nullopt, hold)), StateConflict);
  EXPECT_THROW(store_->set_revocations(change("3D", std::string("keyCompromise"), std::nullopt)), StateConflict);
  store_->set_revocations(change("3D", std::string("certificateHold"), std::nullopt));
  EXPECT_FALSE(store_->find_certificate("3D")->revocation);
  EXPECT_EQ(store_->find_request(id)->state, RequestState::kIssued);
  EXPECT_THROW(store_->set_revocations(change("FF", std::nullopt, hold)), StateConflict);
}

// What OCSP reads (from the indexes alone) says what the certificate's
// row says, for serials of one length and of another.
TEST_P(StoreConformance, ARevocationStatusSaysWhatTheCertificatesRowSays) {
  for (const std::string serial : {"3D", "3E", "013D"}) {
    std::int64_t id = request_in(RequestState::kReceived);
    store_->issue_certificate(certificate(serial, id), {RequestState::kReceived}, "issued",
                              {"certificate_issued", id, serial, {}}, {"test", "issued", {}});
  }
  Revocation compromise{"2026-12-01T00:00:00Z", "keyCompromise", std::string("2026-11-30T12:00:00Z")};
  std::int64_t id = store_->find_certificate("3D")->request_id;
  store_->set_revocations({{"3D", std::nullopt, compromise, {"certificate_revoked", id, "3D", {}}, {"test", "revocation", {}}}});

  EXPECT_FALSE(store_->find_revocation_status("FF"));
  EXPECT_FALSE(store_->find_revocation_status("3"));
  std::optional<RevocationStatus> revoked = store_->find_revocation_status("3D");
  ASSERT_TRUE(revoked && revoked->revocation);
  EXPECT_EQ(revoked->revocation->revoked_at, compromise.revoked_at);
  EXPECT_EQ(revoked->revocation->reason, compromise.reason);
  EXPECT_EQ(revoked->revocation->invalidity_date, compromise.invalidity_date);
  for (const std::string good : {"3E", "013D"}) {
    std::optional<RevocationStatus> status = store_->find_revocation_status(good);
    ASSERT_TRUE(status) << good;
    EXPECT_FALSE(status->revocation) << good;
  }
}

TEST_P(StoreConformance, ABatchOfRevocationsIsOneTransactionWithAnAuditEntryAndAnEventEach) {
  std::vector<RevocationChange> batch;
  for (const std::string serial : {"4A", "4B", "4C"}) {
    std::int64_t id = request_in(RequestState::kReceived);
    store_->issue_certificate(certificate(serial, id), {RequestState::kReceived}, "issued",
                              {"certificate_issued", id, serial, {}}, {"test", "issued", {}});
    batch.push_back({serial, std::nullopt, Revocation{"2026-12-01T00:00:00Z", "keyCompromise", std::nullopt},
                     {"certificate_revoked", id, serial, {}}, {"test", "certificate_revoked", {{"serial", serial}}}});
  }
  std::size_t audit_before = testing::whole_audit_log(*store_).size();
  std::size_t outbox_before = store_->outbox().size();
  // One that cannot be revoked, last: the two before it stay as they were.
  std::vector<RevocationChange> spoiled = batch;
  spoiled.push_back({"FF", std::nullopt, batch.front().revocation, {"certificate_revoked", {}, "FF", {}},
                     {"test", "certificate_revoked", {}}});
  EXPECT_THROW(store_->set_revocations(spoiled), StateConflict);
  for (const RevocationChange& change : batch) EXPECT_FALSE(store_->find_certificate(change.serial)->revocation);
  EXPECT_EQ(testing::whole_audit_log(*store_).size(), audit_before);
  EXPECT_EQ(store_->outbox().size(), outbox_before);

  store_->set_revocations(batch);
  for (const RevocationChange& change : batch) {
    EXPECT_EQ(store_->find_certificate(change.serial)->revocation->reason, "keyCompromise");
  }
  std::vector<AuditRecord> audit = testing::whole_audit_log(*store_);
  ASSERT_EQ(audit.size(), audit_before + batch.size());
  EXPECT_EQ(audit.back().detail, R"({"serial":"4C"})");
  EXPECT_EQ(store_->outbox().size(), outbox_before + batch.size());
  EXPECT_FALSE(first_broken_audit_entry(audit, {}));
}

// change_revocations asks its caller about each certificate as it reads
// it, in the order they are stored, and audits in the caller's order.
TEST_P(StoreConformance, RevocationsAreDecidedOnTheStateInTheTransaction) {
  std::map<std::string, std::int64_t> request_of;
  for (const std::string serial : {"5A", "5B", "5C"}) {
    std::int64_t id = request_in(RequestState::kReceived);
    request_of[serial] = id;
    store_->issue_certificate(certificate(serial, id), {RequestState::kReceived}, "issued",
                              {"certificate_issued", id, serial, {}}, {"test", "issued", {}});
  }
  Revocation superseded{"2026-12-01T00:00:00Z", "superseded", std::nullopt};
  std::size_t audit_before = testing::whole_audit_log(*store_).size();
  std::vector<std::string> asked;
  auto revoke_all_but_5b = [&](const std::string& serial,
                               const std::optional<RevocationState>& state) -> std::optional<RevocationChange> {
    asked.push_back(serial);
    if (!state) {
      ADD_FAILURE() << serial << " was not found";
      return std::nullopt;
    }
    EXPECT_EQ(state->request_id, request_of.at(serial));
    EXPECT_FALSE(state->reason);
    if (serial == "5B") return std::nullopt;
    return RevocationChange{serial, {}, superseded, {"certificate_revoked", state->request_id, serial, {}},
                            {"test", "certificate_revoked", {{"serial", serial}}}};
  };
  store_->change_revocations({"5C", "5B", "5A"}, revoke_all_but_5b);
  EXPECT_EQ(asked, (std::vector<std::string>{"5A", "5B", "5C"}));
  EXPECT_EQ(store_->find_certificate("5A")->revocation->reason, "superseded");
  EXPECT_FALSE(store_->find_certificate("5B")->revocation);
  EXPECT_EQ(store_->find_request(request_of.at("5C"))->state, RequestState::kRevoked);
  EXPECT_EQ(store_->find_request(request_of.at("5B"))->state, RequestState::kIssued);
  std::vector<AuditRecord> audit = testing::whole_audit_log(*store_);
  ASSERT_EQ(audit.size(), audit_before + 2);
  EXPECT_EQ(audit[audit_before].detail, R"({"serial":"5C"})");
  EXPECT_EQ(audit[audit_before + 1].detail, R"({"serial":"5A"})");

  // A decision that throws, even after others were made, changes nothing;
  // an unknown serial is put to the caller with no state.
  auto refuse_unknown = [&](const std::string& serial,
                            const std::optional<RevocationState>& state) -> std::optional<RevocationChange> {
    if (!state) throw std::out_of_range("no " + serial);
    return RevocationChange{serial, {}, std::nullopt, {"certificate_revoked", state->request_id, serial, {}},
                            {"test", "certificate_unrevoked", {}}};
  };
  EXPECT_THROW(store_->change_revocations({"5A", "77"}, refuse_unknown), std::out_of_range);
  auto refuse_5c = [&](const std::string& serial,
                       const std::optional<RevocationState>& state) -> std::optional<RevocationChange> {
    if (serial == "5C") throw Error("not 5C");
    return RevocationChange{serial, {}, std::nullopt, {"certificate_revoked", state->request_id, serial, {}},
                            {"test", "certificate_unrevoked", {}}};
  };
  EXPECT_THROW(store_->change_revocations({"5A", "5C"}, refuse_5c), Error);
  EXPECT_EQ(store_->find_certificate("5A")->revocation->reason, "superseded");
  EXPECT_EQ(testing::whole_audit_log(*store_).size(), audit_before + 2);
  // Refused all: what is thrown is the refusal of the first serial named,
  // though 77 is found missing before any row is read and 5A is stored first.
  auto refuse_all = [](const std::string& serial, const std::optional<RevocationState>&)
      -> std::optional<RevocationChange> { throw Error("refused " + serial); };
  try {
    store_->change_revocations({"5C", "77", "5A"}, refuse_all);
    ADD_FAILURE() << "nothing was refused";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "refused 5C");
  }
}

TEST_P(StoreConformance, CrlNumbersOnlyGrowAcrossEngines) {
  store_->add_crl({1, "2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z", {0x30}}, {"crl_issued", {}, {}, 1},
                  {"test", "crl_issued", {}});
  std::unique_ptr<Store> other = another();
  EXPECT_THROW(other->add_crl({1, "2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z", {0x30}}, {"crl_issued", {}, {}, 1},
                              {"test", "crl_issued", {}}),
               StateConflict);
  other->add_crl({2, "2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z", {0x31}}, {"crl_issued", {}, {}, 2},
                 {"test", "crl_issued", {}});
  EXPECT_EQ(store_->last_crl_number(), 2);
  EXPECT_EQ(store_->latest_crl()->der, (std::vector<std::uint8_t>{0x31}));
}

TEST_P(StoreConformance, TheOutboxKeepsOrderAndAnEventStaysUntilRemoved) {
  std::vector<std::int64_t> requests;
  for (int i = 0; i < 5; ++i) {
    std::int64_t id = request_in(RequestState::kReceived);
    store_->record_event({"request_retrieved", id, {}, {}}, {"test", "retrieved", {}});
    requests.push_back(id);
  }
  std::vector<OutboxRecord> outbox = store_->outbox();
  ASSERT_EQ(outbox.size(), 5u);
  for (std::size_t i = 0; i < outbox.size(); ++i) {
    EXPECT_EQ(outbox[i].event.request_id, requests[i]);
    if (i > 0) {
      EXPECT_GT(outbox[i].id, outbox[i - 1].id);
    }
  }
  // Acknowledged by one module, twice (a redelivery): recorded once.
  store_->record_delivery(outbox[0].id, "exit-1");
  store_->record_delivery(outbox[0].id, "exit-1");
  EXPECT_EQ(store_->deliveries(outbox[0].id), std::vector<std::string>{"exit-1"});
  // At least once: without remove_events, every event is there for the next
  // engine, ids unchanged.
  store_.reset();
  store_ = another();
  std::vector<OutboxRecord> reopened = store_->outbox();
  ASSERT_EQ(reopened.size(), 5u);
  EXPECT_EQ(reopened[0].id, outbox[0].id);
  EXPECT_EQ(store_->deliveries(outbox[0].id), std::vector<std::string>{"exit-1"});
  store_->remove_events({outbox[0].id});
  EXPECT_EQ(store_->outbox().front().id, outbox[1].id);
  EXPECT_TRUE(store_->deliveries(outbox[0].id).empty());
  // A round's removals together, the rest left in order.
  store_->remove_events({outbox[1].id, outbox[3].id});
  std::vector<OutboxRecord> left = store_->outbox();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].id, outbox[2].id);
  EXPECT_EQ(left[1].id, outbox[4].id);
  store_->remove_events({});
}

// Exit modules drop a repeated event by its id (PROTOCOL.md): an id is
// never given again, also once every event was delivered and removed.
// Before schema 10 the next event after an emptied outbox was 1 again.
TEST_P(StoreConformance, AnEventsIdIsNeverGivenAgainOnceTheOutboxIsEmpty) {
  std::int64_t request = request_in(RequestState::kReceived);
  std::vector<std::int64_t> seen;
  for (int round = 0; round < 3; ++round) {
    store_->record_event({"request_retrieved", request, {}, {}}, {"test", "retrieved", {}});
    std::vector<OutboxRecord> outbox = store_->outbox();
    ASSERT_EQ(outbox.size(), 1u);
    for (std::int64_t earlier : seen) EXPECT_GT(outbox.front().id, earlier);
    seen.push_back(outbox.front().id);
    store_->record_delivery(outbox.front().id, "exit-1");
    store_->remove_events({outbox.front().id});
    EXPECT_TRUE(store_->outbox().empty());
    // Also across processes: another connection numbers on.
    store_.reset();
    store_ = another();
  }
}

TEST_P(StoreConformance, TheAuditChainHoldsUnderConcurrentWriters) {
  constexpr int kWriters = 4;
  constexpr int kEntries = 25;
  std::size_t before = testing::whole_audit_log(*store_).size();
  std::vector<std::thread> writers;
  for (int writer = 0; writer < kWriters; ++writer) {
    writers.emplace_back([&, writer] {
      std::unique_ptr<Store> own = another();
      for (int entry = 0; entry < kEntries; ++entry) {
        if (entry % 5 == 0) {
          NewRequest request;
          request.csr = {0x30, 0x00};
          request.requester = "writer";
          own->add_request(request, {"writer", "request_received", {{"writer", writer}}});
        } else {
          own->append_audit({"writer", "event", {{"writer", writer}, {"entry", entry}}});
        }
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  std::vector<AuditRecord> log = testing::whole_audit_log(*store_);
  ASSERT_EQ(log.size(), before + kWriters * kEntries);
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].id, static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(first_broken_audit_entry(log), std::nullopt);
}

TEST_P(StoreConformance, ATurnIsOneEnginesAtATimeAndAGoneHoldersIsTakenOver) {
  std::string me = process_identity();
  EXPECT_TRUE(store_->take_turn("outbox_delivery", me));
  EXPECT_TRUE(store_->take_turn("outbox_delivery", me));  // already mine
  std::unique_ptr<Store> other = another();
  // A live holder on this host (this very process) keeps it from another owner.
  std::string parent = me.substr(0, me.find('/', me.find('/') + 1) + 1) + std::to_string(::getppid()) + "/x";
  EXPECT_FALSE(other->take_turn("outbox_delivery", parent));
  store_->end_turn("outbox_delivery", me);
  EXPECT_TRUE(other->take_turn("outbox_delivery", parent));
  other->end_turn("outbox_delivery", parent);
  // A holder that no longer runs (a pid no process has) is taken over.
  std::string host_and_boot = me.substr(0, me.find('/', me.find('/') + 1) + 1);
  EXPECT_TRUE(store_->take_turn("crl_publication", host_and_boot + "999999999/1"));
  EXPECT_TRUE(other->take_turn("crl_publication", me));
}

TEST_P(StoreConformance, EveryEarlierSchemaIsBroughtUpToDateWithItsData) {
  for (int version = 1; version < GetParam().schema_version; ++version) {
    StoreLocation old = location_;
    old.path = directory_ / ("v" + std::to_string(version) + ".db");
    GetParam().create_at_version(old, key_, version);
    std::unique_ptr<Store> upgraded = open_store(old, key_);
    EXPECT_EQ(upgraded->schema_version(), GetParam().schema_version) << "from version " << version;
    EXPECT_EQ(upgraded->database_id(), old.database_id);
    // Everything works on the upgraded store.
    NewRequest request;
    request.csr = {0x30, 0x00};
    request.requester = "upgrade";
    std::int64_t id = upgraded->add_request(request, {"test", "request_received", {}}).id;
    upgraded->reserve_serial({"4E", id, {1}, process_identity(), {}});
    upgraded->issue_certificate(certificate("4E", id), {RequestState::kReceived}, "issued",
                                {"certificate_issued", id, "4E", {}}, {"test", "issued", {}});
    EXPECT_TRUE(upgraded->take_turn("outbox_delivery", process_identity()));
    EXPECT_EQ(first_broken_audit_entry(testing::whole_audit_log(*upgraded)), std::nullopt);
    EXPECT_EQ(upgraded->outbox().size(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, StoreConformance, ::testing::ValuesIn(backends()),
                         [](const ::testing::TestParamInfo<Backend>& backend) { return backend.param.name; });

}  // namespace
}  // namespace custos::storage
