// `custos audit verify`: the hash chain and the token's signed checkpoints,
// checked after real commands, then after each of the ways someone holding
// the database key (not the token) might edit the log: one entry changed,
// the chain rewritten and re-hashed, the log cut short, a checkpoint
// altered. Each is caught, naming the first bad entry.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "appliance/engine/authority.h"
#include "appliance/engine/database_key.h"
#include "storage/audit.h"
#include "storage/sqlite.h"
#include "tests/support/audit_log.h"
#include "tests/support/cli.h"

namespace custos {
namespace {

using testing::CliFixture;
using testing::CommandResult;
using testing::succeeded;

// What someone with the database key can do that the chain alone would
// not show: entry `id` says another actor, and every hash from it on is
// made again.
void rewrite_and_rehash(storage::Connection& connection, const std::vector<storage::AuditRecord>& log, std::int64_t id) {
  std::vector<std::uint8_t> previous(storage::kAuditHashBytes, 0);
  connection.execute("INSERT OR IGNORE INTO audit_actors (name) VALUES ('cli:uid=4242')");
  for (const storage::AuditRecord& record : log) {
    std::string actor = record.id == id ? "cli:uid=4242" : record.actor;
    std::vector<std::uint8_t> hash = storage::audit_hash(previous, record.id, record.at, actor, record.event, record.detail);
    storage::Statement update(connection,
                              "UPDATE audit_log SET actor_id = (SELECT id FROM audit_actors WHERE name = ?1), hash = ?2 "
                              "WHERE id = ?3");
    update.bind(1, actor).bind(2, hash).bind(3, record.id).run();
    previous = hash;
  }
}

class AuditVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(succeeded(cli_.custos("--dir ca init --subject 'CN=Audited CA' --key ec-p256", true)));
    for (const char* name : {"one", "two", "three"}) {
      ASSERT_TRUE(succeeded(testing::run_command("cd " + testing::quote(cli_.work().string()) +
                                        " && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                                        "-keyout " + name + ".key -subj /CN=" + name + ".example -addext "
                                        "subjectAltName=DNS:" + name + ".example -out " + name + ".csr")));
      ASSERT_TRUE(succeeded(cli_.custos("--dir ca submit --csr " + (cli_.work() / name).string() + ".csr", true)));
    }
  }

  CommandResult verify() { return cli_.custos("--dir ca audit verify --json", true); }

  // What someone with the database key sees and can change: the key comes
  // from the token here only because the test has the PIN.
  template <typename Edit>
  void edit_database(Edit edit) {
    engine::TokenOptions options;
    options.pin.file = cli_.pin_file();
    auto ca = engine::CertificateAuthority::open(cli_.work() / "ca", options);
    SecureBuffer key = engine::derive_database_key(ca->token(), ca->config().database);
    storage::Connection connection(cli_.work() / "ca" / "custos.db", false, key);
    edit(connection, testing::whole_audit_log(ca->store()));
  }

  // Exit 1, the JSON report saying where, and the one-line cause on stderr.
  void expect_broken_at(std::int64_t entry, const std::string& problem) {
    CommandResult result = verify();
    EXPECT_EQ(result.status, 1) << result.out << result.err;
    nlohmann::json report = nlohmann::json::parse(result.out);
    EXPECT_FALSE(report["holds"]);
    EXPECT_EQ(report["first_bad_entry"], entry) << result.out;
    EXPECT_NE(report["problem"].get<std::string>().find(problem), std::string::npos) << result.out;
    EXPECT_NE(result.err.find("the audit log does not hold from entry " + std::to_string(entry)), std::string::npos)
        << result.err;
    EXPECT_EQ(testing::line_count(result.err), 1u) << result.err;
  }

  CliFixture cli_;
};

TEST_F(AuditVerify, HoldsAfterRealCommandsWithEveryEntrySigned) {
  CommandResult result = verify();
  ASSERT_TRUE(succeeded(result));
  nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_TRUE(report["holds"]);
  // ca_created, then for each submission at least its receipt and issuance.
  EXPECT_GE(report["entries"].get<int>(), 7) << result.out;
  // Each command signed what it logged.
  EXPECT_EQ(report["checkpoints"], 3) << result.out;
  EXPECT_EQ(report["last_signed_entry"], report["entries"]) << result.out;
  EXPECT_EQ(report["unsigned_entries"], 0) << result.out;
  EXPECT_EQ(report["last_checkpoint"], 3) << result.out;
  EXPECT_EQ(report["last_fingerprint"].get<std::string>().size(), 64u) << result.out;

  CommandResult text = cli_.custos("--dir ca audit verify", true);
  ASSERT_TRUE(succeeded(text));
  EXPECT_NE(text.out.find("audit log holds: " + std::to_string(report["entries"].get<int>()) +
                          " entries, 3 checkpoints signed by the CA key, the last at entry"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("note elsewhere, to check later with --expect: 3:" +
                          report["last_fingerprint"].get<std::string>()),
            std::string::npos)
      << text.out;
  EXPECT_TRUE(succeeded(cli_.custos("--dir ca audit verify --expect 3:" + report["last_fingerprint"].get<std::string>(),
                                    true)));
  CommandResult malformed = cli_.custos("--dir ca audit verify --expect 3:xyz", true);
  EXPECT_EQ(malformed.status, 2) << malformed.err;
}

// A rewritten log waits in vain for the token: the next command that logs
// gets no checkpoint, since the entry the last one signed has changed.
TEST_F(AuditVerify, TheTokenSignsNoCheckpointOverARewrittenLog) {
  edit_database([](storage::Connection& connection, const std::vector<storage::AuditRecord>& log) {
    rewrite_and_rehash(connection, log, 2);
  });
  CommandResult crl = cli_.custos("--dir ca crl --out crl.pem", true);
  EXPECT_EQ(crl.status, 0) << crl.err;
  EXPECT_NE(crl.err.find("the token signs no audit checkpoint over a log that does not hold: entry "), std::string::npos)
      << crl.err;
  EXPECT_NE(crl.err.find("is not the one checkpoint 3 signed"), std::string::npos) << crl.err;
  nlohmann::json report = nlohmann::json::parse(verify().out);
  EXPECT_EQ(report["checkpoints"], 3) << report;
  EXPECT_FALSE(report["holds"]) << report;
}

// Every checkpoint deleted and the whole log rewritten: the chain and the
// checkpoints signed after it hold, but the checkpoint an auditor noted is
// gone.
TEST_F(AuditVerify, ALogReplacedWithItsCheckpointsFailsTheNotedExpectation) {
  nlohmann::json before = nlohmann::json::parse(verify().out);
  std::string noted = std::to_string(before["last_checkpoint"].get<int>()) + ":" + before["last_fingerprint"].get<std::string>();
  edit_database([](storage::Connection& connection, const std::vector<storage::AuditRecord>& log) {
    connection.execute("DELETE FROM audit_checkpoints");
    rewrite_and_rehash(connection, log, 2);
  });
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca crl --out crl.pem", true)));  // the token signs the rewrite
  EXPECT_TRUE(succeeded(verify()));
  CommandResult result = cli_.custos("--dir ca audit verify --json --expect " + noted, true);
  EXPECT_EQ(result.status, 1);
  nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["first_bad_entry"], 1) << result.out;
  EXPECT_NE(report["problem"].get<std::string>().find("is not the one noted"), std::string::npos) << result.out;
}

// A checkpoint taken out of the middle breaks the sequence.
TEST_F(AuditVerify, ADeletedCheckpointBreaksTheSequence) {
  edit_database([](storage::Connection& connection, const std::vector<storage::AuditRecord>&) {
    connection.execute("DELETE FROM audit_checkpoints WHERE id = 2");
  });
  CommandResult result = verify();
  EXPECT_EQ(result.status, 1);
  nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_NE(report["problem"].get<std::string>().find("checkpoint 2 is missing"), std::string::npos) << result.out;
}

TEST_F(AuditVerify, AnEditedEntryBreaksTheChain) {
  edit_database([](storage::Connection& connection, const std::vector<storage::AuditRecord>&) {
    connection.execute(
        "INSERT INTO audit_actors (name) VALUES ('nobody');"
        "UPDATE audit_log SET actor_id = (SELECT id FROM audit_actors WHERE name = 'nobody') WHERE id = 3");
  });
  expect_broken_at(3, "entry 3 does not chain");
}

TEST_F(AuditVerify, AChainRewrittenAndRehashedIsCaughtByTheCheckpoints) {
  std::int64_t first_checkpoint = 0;
  edit_database([&](storage::Connection& connection, const std::vector<storage::AuditRecord>& log) {
    storage::Statement select(connection, "SELECT audit_id FROM audit_checkpoints ORDER BY id LIMIT 1");
    ASSERT_TRUE(select.step());
    first_checkpoint = select.column_int(0);
    rewrite_and_rehash(connection, log, 2);
  });
  // The chain itself holds again: only the checkpoints tell.
  edit_database([](storage::Connection&, const std::vector<storage::AuditRecord>& log) {
    EXPECT_EQ(log[1].actor, "cli:uid=4242");
    EXPECT_EQ(storage::first_broken_audit_entry(log), std::nullopt);
  });
  expect_broken_at(1, "entries 1–" + std::to_string(first_checkpoint) + " were rewritten");
}

TEST_F(AuditVerify, ALogCutShortIsCaught) {
  std::int64_t kept = 0;
  edit_database([&](storage::Connection& connection, const std::vector<storage::AuditRecord>& log) {
    kept = log.back().id - 2;
    connection.execute("DELETE FROM audit_log WHERE id > " + std::to_string(kept));
  });
  expect_broken_at(kept + 1, "which is missing: the log was cut short");
}

TEST_F(AuditVerify, AnAlteredCheckpointIsNotTheTokens) {
  std::int64_t signed_through = 0;
  edit_database([&](storage::Connection& connection, const std::vector<storage::AuditRecord>&) {
    storage::Statement select(connection, "SELECT audit_id FROM audit_checkpoints ORDER BY id LIMIT 1");
    ASSERT_TRUE(select.step());
    signed_through = select.column_int(0);
    // The last checkpoint claims a later time than the token signed.
    connection.execute(
        "UPDATE audit_checkpoints SET signed_at = '2099-01-01T00:00:00Z' WHERE id = (SELECT max(id) FROM audit_checkpoints)");
  });
  CommandResult result = verify();
  EXPECT_EQ(result.status, 1);
  nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_GT(report["first_bad_entry"].get<std::int64_t>(), signed_through) << result.out;
  EXPECT_NE(report["problem"].get<std::string>().find("is not signed by the CA key"), std::string::npos) << result.out;
}

// The checkpoint's signature verifies for each kind of CA key.
class AuditVerifyKeyType : public ::testing::TestWithParam<std::string> {};

TEST_P(AuditVerifyKeyType, CheckpointsVerify) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=Audited CA' --key " + GetParam(), true)));
  ASSERT_TRUE(succeeded(cli.custos("--dir ca crl --out crl.pem", true)));
  CommandResult result = cli.custos("--dir ca audit verify --json", true);
  ASSERT_TRUE(succeeded(result));
  nlohmann::json report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["checkpoints"], 1) << result.out;
  EXPECT_EQ(report["unsigned_entries"], 0) << result.out;
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, AuditVerifyKeyType, ::testing::Values("rsa-2048", "ed25519", "ec-p384"),
                         [](const ::testing::TestParamInfo<std::string>& parameter) {
                           std::string name = parameter.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace custos
