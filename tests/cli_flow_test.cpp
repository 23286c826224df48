// The request flow through the custos binary with requests made by the real
// `openssl req`, certificates checked by `openssl verify` and `certtool`,
// CRLs by `openssl verify -crl_check`, and several custos processes
// submitting to one CA at once.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "appliance/engine/authority.h"
#include "tests/support/audit_log.h"
#include "tests/support/cli.h"

namespace custos {
namespace {

using testing::CliFixture;
using testing::CommandResult;
using testing::quote;
using testing::run_command;
using testing::succeeded;

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(succeeded(cli_.custos("--dir ca init --subject 'CN=Flow Root,O=Custos Tests' --key ec-p256", true)));
  }

  // `openssl req` in the work directory: a new P-256 key and a request.
  void make_request(const std::string& name, const std::string& subject, const std::string& san = "") {
    std::string extension = san.empty() ? "" : " -addext " + quote("subjectAltName=" + san);
    ASSERT_TRUE(succeeded(shell("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
                                ".key -subj " + quote(subject) + extension + " -out " + name + ".csr")));
  }

  nlohmann::json custos_json(const std::string& arguments) {
    CommandResult result = cli_.custos(arguments + " --json", true);
    EXPECT_TRUE(succeeded(result));
    return nlohmann::json::parse(result.out);
  }

  CommandResult shell(const std::string& command) {
    return run_command("cd " + quote(cli_.work().string()) + " && " + command);
  }

  std::string serial_of(const std::string& pem) {
    CommandResult serial = shell("openssl x509 -noout -serial -in " + pem);
    return serial.out.substr(serial.out.find('=') + 1, serial.out.size() - serial.out.find('=') - 2);
  }

  // "2026-12-01 17:20:13Z" (openssl's ISO 8601) as seconds.
  static std::time_t parse_time(const std::string& text) {
    std::tm parts{};
    strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &parts);
    return timegm(&parts);
  }

  CliFixture cli_;
};

TEST_F(FlowTest, ServerRequestIsIssuedAndVerifiedByOpensslAndCerttool) {
  make_request("www", "/CN=www.example.com", "DNS:www.example.com,DNS:example.com");
  nlohmann::json disposition = custos_json("--dir ca submit --csr www.csr --out www.pem");
  EXPECT_EQ(disposition["status"], "issued");
  EXPECT_EQ(disposition["request_id"], 1);
  EXPECT_EQ(disposition["serial"].get<std::string>().size(), 32u);
  EXPECT_TRUE(succeeded(shell("openssl verify -CAfile ca/ca.pem www.pem")));
  EXPECT_TRUE(succeeded(shell("certtool --verify --load-ca-certificate ca/ca.pem --infile www.pem")));
  CommandResult text = shell("openssl x509 -noout -text -in www.pem");
  EXPECT_NE(text.out.find("TLS Web Server Authentication"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("DNS:www.example.com, DNS:example.com"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("X509v3 Authority Key Identifier"), std::string::npos) << text.out;

  nlohmann::json retrieved = custos_json("--dir ca retrieve 1 --out again.pem");
  EXPECT_EQ(retrieved["serial"], disposition["serial"]);
  EXPECT_EQ(testing::read_file(cli_.work() / "again.pem"), testing::read_file(cli_.work() / "www.pem"));
}

TEST_F(FlowTest, SubordinateRequestPendsIsResubmittedAndSignsALeafThatVerifies) {
  make_request("sub", "/CN=Flow Issuing CA");
  nlohmann::json pending = custos_json("--dir ca submit --csr sub.csr --profile subca");
  EXPECT_EQ(pending["status"], "pending");
  EXPECT_FALSE(pending.contains("serial"));
  nlohmann::json listed = custos_json("--dir ca admin list --state pending");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["profile"], "subca");
  EXPECT_EQ(listed[0]["subject"], "CN=Flow Issuing CA");

  nlohmann::json issued = custos_json("--dir ca admin resubmit 1");
  EXPECT_EQ(issued["status"], "issued");
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca retrieve 1 --out sub.pem", true)));
  CommandResult extensions = shell("openssl x509 -noout -ext basicConstraints,keyUsage -in sub.pem");
  EXPECT_NE(extensions.out.find("CA:TRUE, pathlen:0"), std::string::npos) << extensions.out;
  EXPECT_NE(extensions.out.find("Certificate Sign, CRL Sign"), std::string::npos) << extensions.out;

  // The subordinate CA (an outside party with its own key) signs a leaf.
  make_request("leaf", "/CN=leaf.example");
  ASSERT_TRUE(succeeded(shell("openssl x509 -req -in leaf.csr -CA sub.pem -CAkey sub.key -CAcreateserial -days 5 "
                              "-out leaf.pem")));
  EXPECT_TRUE(succeeded(shell("openssl verify -CAfile ca/ca.pem -untrusted sub.pem leaf.pem")));

  CommandResult again = cli_.custos("--dir ca admin resubmit 1", true);
  EXPECT_EQ(again.status, 1);
  EXPECT_EQ(again.err, "custos: request 1 is issued; only a pending, denied or failed request can be resubmitted\n");
}

TEST_F(FlowTest, AdministratorDeniesAPendingRequest) {
  make_request("sub", "/CN=Unwanted CA");
  custos_json("--dir ca submit --csr sub.csr --profile subca");
  nlohmann::json denied = custos_json("--dir ca admin deny 1 --message 'not this one'");
  EXPECT_EQ(denied["status"], "denied");
  EXPECT_EQ(denied["message"], "not this one");
  EXPECT_EQ(custos_json("--dir ca retrieve 1")["status"], "denied");
}

TEST_F(FlowTest, ExtensionSetOnAPendingRequestIsInTheIssuedCertificate) {
  make_request("sub", "/CN=Policy CA");
  custos_json("--dir ca submit --csr sub.csr --profile subca");
  // nameConstraints: permitted DNS:example.com
  ASSERT_TRUE(succeeded(cli_.custos(
      "--dir ca admin set-ext 1 --oid 2.5.29.30 --critical --value-der-hex 3011a00f300d820b6578616d706c652e636f6d", true)));
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca admin set-attr 1 department=pki", true)));
  custos_json("--dir ca admin resubmit 1");
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca retrieve 1 --out sub.pem", true)));
  CommandResult constraints = shell("openssl x509 -noout -ext nameConstraints -in sub.pem");
  EXPECT_NE(constraints.out.find("DNS:example.com"), std::string::npos) << constraints.out;
  // A certificate policy the profile does not grant (anyPolicy) is refused.
  make_request("other", "/CN=Other CA");
  custos_json("--dir ca submit --csr other.csr --profile subca");
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca admin set-ext 2 --oid 2.5.29.32 --value-der-hex 300830060604551d2000", true)));
  nlohmann::json widened = custos_json("--dir ca admin resubmit 2");
  EXPECT_EQ(widened["status"], "denied");
  EXPECT_NE(widened["message"].get<std::string>().find("is not one the profile grants"), std::string::npos) << widened;

  CommandResult refused = cli_.custos("--dir ca admin set-ext 1 --oid 2.5.29.32 --value-der-hex 3000", true);
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("only a pending request can be changed"), std::string::npos) << refused.err;
}

TEST_F(FlowTest, RevokedCertificateFailsCrlCheckAndAnotherPasses) {
  make_request("a", "/CN=a.example", "DNS:a.example");
  make_request("b", "/CN=b.example", "DNS:b.example");
  custos_json("--dir ca submit --csr a.csr --out a.pem");
  custos_json("--dir ca submit --csr b.csr --out b.pem");
  ASSERT_TRUE(succeeded(
      cli_.custos("--dir ca admin revoke " + serial_of("a.pem") + " --reason keyCompromise --at 2026-11-01T00:00:00Z",
                  true)));
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca crl --out crl.pem", true)));
  ASSERT_TRUE(succeeded(shell("cat ca/ca.pem crl.pem > ca-crl.pem")));
  CommandResult revoked = shell("openssl verify -crl_check -CAfile ca-crl.pem a.pem");
  EXPECT_NE(revoked.status, 0);
  EXPECT_NE((revoked.out + revoked.err).find("certificate revoked"), std::string::npos) << revoked.out << revoked.err;
  EXPECT_TRUE(succeeded(shell("openssl verify -crl_check -CAfile ca-crl.pem b.pem")));
  CommandResult crl = shell("openssl crl -noout -text -in crl.pem");
  EXPECT_NE(crl.out.find("Key Compromise"), std::string::npos) << crl.out;
  EXPECT_NE(crl.out.find("Invalidity Date"), std::string::npos) << crl.out;
  EXPECT_EQ(custos_json("--dir ca retrieve 1")["status"], "revoked");
  // The CRL is also published, DER, where custos.toml says.
  EXPECT_TRUE(succeeded(shell("openssl crl -inform DER -in ca/ca.crl -CAfile ca/ca.pem -noout")));
}

TEST_F(FlowTest, HoldIsListedUntilUnrevokedAndCrlNumbersIncrease) {
  make_request("a", "/CN=a.example", "DNS:a.example");
  custos_json("--dir ca submit --csr a.csr --out a.pem");
  std::string serial = serial_of("a.pem");
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca admin revoke " + serial + " --reason certificateHold", true)));
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca crl --out crl1.pem", true)));
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca admin unrevoke " + serial, true)));
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca crl --out crl2.pem", true)));

  CommandResult first = shell("openssl crl -noout -text -in crl1.pem");
  CommandResult second = shell("openssl crl -noout -text -in crl2.pem");
  EXPECT_NE(first.out.find("Certificate Hold"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find(serial), std::string::npos) << first.out;
  EXPECT_EQ(second.out.find(serial), std::string::npos) << second.out;
  EXPECT_NE(first.out.find("X509v3 CRL Number: \n                1"), std::string::npos) << first.out;
  EXPECT_NE(second.out.find("X509v3 CRL Number: \n                2"), std::string::npos) << second.out;
  ASSERT_TRUE(succeeded(shell("cat ca/ca.pem crl2.pem > ca-crl.pem")));
  EXPECT_TRUE(succeeded(shell("openssl verify -crl_check -CAfile ca-crl.pem a.pem")));
  EXPECT_EQ(custos_json("--dir ca retrieve 1")["status"], "issued");
}

// A backup is a CA directory of its own: the same token opens it, its
// requests and certificates are there, its audit log holds and records the
// backup itself.
TEST_F(FlowTest, BackupIsADirectoryTheSameTokenOpens) {
  make_request("www", "/CN=www.example.com", "DNS:www.example.com");
  nlohmann::json issued = custos_json("--dir ca submit --csr www.csr");
  ASSERT_EQ(issued["status"], "issued");
  nlohmann::json report = custos_json("--dir ca backup --out copy");
  EXPECT_EQ(report["files"], nlohmann::json::array({"custos.db", "custos.toml", "ca.pem"})) << report;
  EXPECT_EQ(std::filesystem::status(cli_.work() / "copy").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  EXPECT_EQ(std::filesystem::status(cli_.work() / "copy" / "custos.db").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  nlohmann::json listed = custos_json("--dir copy admin list");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["serial"], issued["serial"]);
  nlohmann::json audit = custos_json("--dir copy audit verify");
  EXPECT_TRUE(audit["holds"]) << audit;
  EXPECT_EQ(audit["unsigned_entries"], 0) << audit;
  CommandResult log = shell("strings copy/custos.db | grep -c backup_made");
  EXPECT_EQ(log.out, "0\n") << "the copy is encrypted: its audit entries must not show in clear";

  // Never over an existing directory; nothing to reload without custosd.
  CommandResult again = cli_.custos("--dir ca backup --out copy", true);
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("copy already exists"), std::string::npos) << again.err;
  CommandResult reload = cli_.custos("--dir ca admin reload", true);
  EXPECT_EQ(reload.status, 1);
  EXPECT_NE(reload.err.find("no custosd serves"), std::string::npos) << reload.err;
}

TEST_F(FlowTest, MalformedAndForgedRequestsGetTheirReason) {
  testing::write_file(cli_.work() / "junk.csr", "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n");
  CommandResult junk = cli_.custos("--dir ca submit --csr junk.csr", true);
  EXPECT_EQ(junk.status, 1);
  EXPECT_EQ(testing::line_count(junk.err), 1u) << junk.err;

  make_request("weak", "/CN=weak.example", "DNS:weak.example");
  ASSERT_TRUE(succeeded(shell("openssl req -new -newkey rsa:1024 -nodes -keyout weak.key -subj /CN=weak -out weak.csr")));
  nlohmann::json weak = custos_json("--dir ca submit --csr weak.csr");
  EXPECT_EQ(weak["status"], "denied");
  EXPECT_NE(weak["message"].get<std::string>().find("2048"), std::string::npos) << weak;
}

// A local submit or resubmit starts the policy module while it opens the
// token and the database, and reads the module's hello answer when it asks
// its question: a module that dies, or never answers its hello, still
// leaves the request pending with the reason, and a good one issues it.
TEST_F(FlowTest, APolicyModuleStartedWhileTheCaOpensAnswersOrLeavesTheRequestPendingWithWhy) {
  std::filesystem::path config = cli_.work() / "ca" / "custos.toml";
  std::string original = testing::read_file(config);
  std::size_t policy = original.find("[policy]\n");
  ASSERT_NE(policy, std::string::npos);
  auto use_policy = [&](const std::string& behaviour, int timeout_ms) {
    std::string text = original;
    text.replace(policy, text.find("\n[", policy + 1) - policy,
                 "[policy]\nmodule = \"exec:" + std::string(CUSTOS_HOSTILE_MODULE) + " " + behaviour +
                     "\"\ntimeout_ms = " + std::to_string(timeout_ms) + "\n");
    testing::write_file(config, text, 0600);
  };
  make_request("leaf", "/CN=leaf.example", "DNS:leaf.example");

  use_policy("die-before-hello", 10000);
  nlohmann::json died = custos_json("--dir ca submit --csr leaf.csr");
  EXPECT_EQ(died["status"], "pending") << died;
  EXPECT_NE(died["message"].get<std::string>().find("exited with status 42"), std::string::npos) << died;
  EXPECT_NE(died["message"].get<std::string>().find("last words on stderr: \"hostile: the configuration names no server\""),
            std::string::npos)
      << died;

  use_policy("silent-after-hello", 1000);
  nlohmann::json silent = custos_json("--dir ca admin resubmit 1");
  EXPECT_EQ(silent["status"], "pending") << silent;
  EXPECT_NE(silent["message"].get<std::string>().find("did not answer within 1000 ms"), std::string::npos) << silent;

  use_policy("good", 2000);
  nlohmann::json issued = custos_json("--dir ca admin resubmit 1");
  EXPECT_EQ(issued["status"], "issued") << issued;
  EXPECT_EQ(issued["message"], "a good module") << issued;
  nlohmann::json second = custos_json("--dir ca submit --csr leaf.csr --out leaf.pem");
  EXPECT_EQ(second["status"], "issued") << second;
  EXPECT_TRUE(succeeded(shell("openssl verify -CAfile ca/ca.pem leaf.pem")));
}

// custos is killed after the token signed and before the certificate was
// stored: the next command that opens the CA finds the signing intent
// recorded before the signature, and says so (the request pends with the
// serial, the audit log says unrecorded_signature); nothing is lost
// silently, and the request can be resubmitted.
TEST_F(FlowTest, AKillBetweenSigningAndStoringIsReportedAtTheNextOpen) {
#ifndef CUSTOS_FAULT_POINTS
  GTEST_SKIP() << "built without the kill points (CUSTOS_FAULT_POINTS=OFF, as the Debian package is)";
#endif
  make_request("k", "/CN=killed.example", "DNS:killed.example");
  CommandResult killed = shell("CUSTOS_FAULT=after-signing " + quote(CUSTOS_CLI) +
                               " --dir ca submit --csr k.csr --json --pin-file pin");
  ASSERT_NE(killed.status, 0);
  EXPECT_EQ(killed.out, "");
  CommandResult next = cli_.custos("--dir ca retrieve 1 --json", true);
  ASSERT_TRUE(succeeded(next)) << next.err;
  nlohmann::json disposition = nlohmann::json::parse(next.out);
  EXPECT_EQ(disposition["status"], "pending");
  std::string message = disposition["message"];
  EXPECT_NE(message.find("may have signed serial "), std::string::npos) << message;
  EXPECT_NE(next.err.find("warning: request 1: the token may have signed serial"), std::string::npos) << next.err;
  // Reported once: the next command has nothing to say.
  CommandResult again = cli_.custos("--dir ca retrieve 1 --json", true);
  EXPECT_EQ(again.err, "");
  CommandResult audit = cli_.custos("--dir ca audit verify --json", true);
  ASSERT_TRUE(succeeded(audit)) << audit.err;
  EXPECT_EQ(nlohmann::json::parse(audit.out)["holds"], true);
  {
    auto ca = engine::CertificateAuthority::open(cli_.work() / "ca", cli_.token_options());
    std::vector<storage::AuditRecord> log = testing::whole_audit_log(ca->store());
    auto reported = std::find_if(log.begin(), log.end(),
                                 [](const storage::AuditRecord& entry) { return entry.event == "unrecorded_signature"; });
    ASSERT_NE(reported, log.end());
    EXPECT_NE(reported->detail.find(message.substr(message.find("serial ") + 7, 8)), std::string::npos) << reported->detail;
    EXPECT_TRUE(ca->store().signing_intents().empty());
  }
  nlohmann::json issued = custos_json("--dir ca admin resubmit 1");
  EXPECT_EQ(issued["status"], "issued");
  custos_json("--dir ca retrieve 1 --out k.pem");
  EXPECT_TRUE(succeeded(shell("openssl verify -CAfile ca/ca.pem k.pem")));
}

TEST_F(FlowTest, FourConcurrentSubmitLoopsLoseNothingAndRepeatNoSerial) {
  make_request("c", "/CN=concurrent.example", "DNS:concurrent.example");
  // Four loops of ten submissions, each a separate custos process.
  std::string loop = "for i in 1 2 3 4 5 6 7 8 9 10; do " + quote(CUSTOS_CLI) + " --dir ca submit --csr c.csr --json "
                     "--pin-file pin >> out.$L 2>> err.$L || echo FAILED >> err.$L; done";
  ASSERT_TRUE(succeeded(shell("for L in 1 2 3 4; do (" + loop + ") & done; wait")));
  std::set<std::string> serials;
  std::set<std::int64_t> ids;
  for (int l = 1; l <= 4; ++l) {
    std::string errors = testing::read_file(cli_.work() / ("err." + std::to_string(l)));
    EXPECT_EQ(errors, "") << "loop " << l;
    std::istringstream lines(testing::read_file(cli_.work() / ("out." + std::to_string(l))));
    for (std::string line; std::getline(lines, line);) {
      nlohmann::json disposition = nlohmann::json::parse(line);
      EXPECT_EQ(disposition["status"], "issued") << line;
      serials.insert(disposition["serial"].get<std::string>());
      ids.insert(disposition["request_id"].get<std::int64_t>());
    }
  }
  EXPECT_EQ(serials.size(), 40u);
  EXPECT_EQ(ids.size(), 40u);
  EXPECT_EQ(custos_json("--dir ca admin list --state issued").size(), 40u);
}

// What operators of `openssl ca`, `step ca` and `certreq` reach for: the
// version, a certificate with its chain, a certificate by serial, a list
// with its dates, revocation by certificate file and in bulk, and a
// shorter validity asked for by the requester.
// An incident's list: revoked in batches, each one transaction. What is
// already revoked for the reason (or named twice) is counted, so the file
// can be run again; a refusal leaves its whole batch as it was.
TEST_F(FlowTest, BulkRevocationCountsWhatIsAlreadyRevokedAndARefusedBatchChangesNothing) {
  std::vector<std::string> serials;
  for (const char* name : {"a", "b", "c"}) {
    make_request(name, std::string("/CN=") + name + ".example.com", std::string("DNS:") + name + ".example.com");
    ASSERT_TRUE(succeeded(cli_.custos(std::string("--dir ca submit --csr ") + name + ".csr --out " + name + ".pem", true)));
    serials.push_back(serial_of(std::string(name) + ".pem"));
  }
  std::int64_t entries_before = custos_json("--dir ca audit verify")["entries"].get<std::int64_t>();
  auto revoke_file = [&](const std::string& lines) {
    testing::write_file(cli_.work() / "incident.txt", lines, 0600);
    return cli_.custos("--dir ca admin revoke --serials-from incident.txt --reason keyCompromise --json", true);
  };
  CommandResult first = revoke_file(serials[0] + "\n" + serials[0] + "\n# b too\n" + serials[1] + "\n");
  ASSERT_TRUE(succeeded(first)) << first.err;
  EXPECT_EQ(nlohmann::json::parse(first.out), (nlohmann::json{{"revoked", 2}, {"already_revoked", 1}}));

  CommandResult refused = revoke_file(serials[2] + "\n0BADC0DE\n");
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("there is no certificate with serial 0BADC0DE"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("serials 1 to 2 of 2 are left as they were; 0 revoked before them"), std::string::npos)
      << refused.err;
  EXPECT_EQ(custos_json("--dir ca admin show " + serials[2])["status"], "valid");

  CommandResult again = revoke_file(serials[0] + "\n" + serials[1] + "\n" + serials[2] + "\n");
  ASSERT_TRUE(succeeded(again)) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out), (nlohmann::json{{"revoked", 1}, {"already_revoked", 2}}));
  for (const std::string& serial : serials) {
    EXPECT_EQ(custos_json("--dir ca admin show " + serial)["revocation_reason"], "keyCompromise");
  }
  // Another reason for a revoked certificate is a refusal, not a count.
  CommandResult other = cli_.custos("--dir ca admin revoke --serials-from incident.txt --reason superseded", true);
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("is already revoked (keyCompromise)"), std::string::npos) << other.err;
  CommandResult typo = revoke_file(serials[0] + "\nnot-hex\n");
  EXPECT_EQ(typo.status, 1);
  EXPECT_NE(typo.err.find("incident.txt line 2: 'not-hex' is not a serial number in hex"), std::string::npos) << typo.err;
  // Three revocations, three audit entries (the refusals wrote none), and
  // the chain holds.
  nlohmann::json audit = custos_json("--dir ca audit verify");
  EXPECT_TRUE(audit["holds"].get<bool>()) << audit;
  EXPECT_EQ(audit["entries"].get<std::int64_t>(), entries_before + 3) << audit;
  testing::write_file(cli_.work() / "incident.txt", serials[1] + "\n", 0600);
  EXPECT_EQ(cli_.custos("--dir ca admin revoke --serials-from incident.txt --reason keyCompromise", true).out,
            "revoked 0 certificates (keyCompromise); 1 already revoked, left as they were\n");
}

TEST_F(FlowTest, VersionChainShowListAndRevocationByFile) {
  CommandResult version = cli_.custos("--version");
  ASSERT_EQ(version.status, 0) << version.err;
  EXPECT_TRUE(version.out.starts_with("custos 0.1.0 (git ")) << version.out;
  for (const char* library : {"\nOpenSSL 3", "\nSQLCipher ", "\nlibsodium 1"}) {
    EXPECT_NE(version.out.find(library), std::string::npos) << version.out;
  }

  make_request("www", "/CN=www.example.com", "DNS:www.example.com");
  make_request("api", "/CN=api.example.com", "DNS:api.example.com");
  make_request("short", "/CN=short.example.com", "DNS:short.example.com");
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca submit --csr www.csr --out www.pem", true)));
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca submit --csr api.csr --out api.pem", true)));

  ASSERT_TRUE(succeeded(cli_.custos("--dir ca retrieve 1 --chain --out www-chain.pem", true)));
  EXPECT_EQ(testing::read_file(cli_.work() / "www-chain.pem"),
            testing::read_file(cli_.work() / "www.pem") + testing::read_file(cli_.work() / "ca" / "ca.pem"));
  EXPECT_EQ(cli_.custos("--dir ca retrieve 1 --chain", true).status, 2);

  std::string www = serial_of("www.pem");
  nlohmann::json valid = custos_json("--dir ca admin show " + www);
  EXPECT_EQ(valid["status"], "valid");
  EXPECT_EQ(valid["request_id"], 1);
  EXPECT_EQ(valid["subject"], "CN=www.example.com");
  EXPECT_EQ(custos_json("--dir ca admin show 0BADC0DE")["status"], "unknown");

  ASSERT_TRUE(succeeded(cli_.custos("--dir ca admin revoke --cert www.pem --reason keyCompromise", true)));
  nlohmann::json revoked = custos_json("--dir ca admin show " + www);
  EXPECT_EQ(revoked["status"], "revoked");
  EXPECT_EQ(revoked["revocation_reason"], "keyCompromise");
  CommandResult human = cli_.custos("--dir ca admin show " + www, true);
  EXPECT_NE(human.out.find("revoked on "), std::string::npos) << human.out;

  testing::write_file(cli_.work() / "serials.txt", "# incident 42\n" + serial_of("api.pem") + "\n\n", 0600);
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca admin revoke --serials-from serials.txt --reason superseded", true)));
  EXPECT_EQ(custos_json("--dir ca admin show " + serial_of("api.pem"))["revocation_reason"], "superseded");
  EXPECT_EQ(cli_.custos("--dir ca admin revoke " + www + " --cert www.pem --reason superseded", true).status, 2);
  // Another CA's certificate is not revoked by serial here.
  ASSERT_TRUE(succeeded(shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key "
                              "-subj /CN=other -days 1 -out other.pem")));
  CommandResult other = cli_.custos("--dir ca admin revoke --cert other.pem --reason keyCompromise", true);
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("was not issued by this CA"), std::string::npos) << other.err;

  // validity_days: fewer days than the profile's are honoured, a bad value refused.
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca submit --csr short.csr --attr validity_days=10 --out short.pem", true)));
  CommandResult dates = shell("openssl x509 -noout -startdate -enddate -dateopt iso_8601 -in short.pem");
  ASSERT_TRUE(succeeded(dates)) << dates.err;
  std::string start = dates.out.substr(dates.out.find('=') + 1, 20);
  std::string end = dates.out.substr(dates.out.rfind('=') + 1, 20);
  EXPECT_EQ(parse_time(end) - parse_time(start), 10 * 86400 - 1) << dates.out;
  make_request("bad", "/CN=bad.example.com", "DNS:bad.example.com");
  nlohmann::json refused = custos_json("--dir ca submit --csr bad.csr --attr validity_days=ten");
  EXPECT_EQ(refused["status"], "denied");
  EXPECT_EQ(refused["message"], "the attribute validity_days must be a whole number of days, not 'ten'");

  nlohmann::json listed = custos_json("--dir ca admin list");
  ASSERT_FALSE(listed.empty());
  bool saw_revoked = false;
  for (const nlohmann::json& entry : listed) {
    EXPECT_EQ(entry.contains("serial"), entry.contains("not_after")) << entry;
    saw_revoked = saw_revoked || entry.value("revocation_reason", "") == "keyCompromise";
  }
  EXPECT_TRUE(saw_revoked) << listed;
  // What Custos issued passes its own linter, from the outside too; a
  // certificate from elsewhere that breaks a rule is named and exits 1.
  ASSERT_TRUE(succeeded(cli_.custos("--dir ca crl --out ca.crl.pem", true)));
  for (const char* file : {"short.pem", "ca.crl.pem", "ca/ca.pem"}) {
    CommandResult clean = cli_.custos(std::string("lint ") + file);
    EXPECT_EQ(clean.status, 0) << file << ": " << clean.out << clean.err;
    EXPECT_EQ(clean.out.find("error "), std::string::npos) << clean.out;  // warnings: this CA has no CRL URL
  }
  CommandResult broken = cli_.custos("lint other.pem");
  EXPECT_EQ(broken.status, 1);
  EXPECT_NE(broken.out.find("error rfc5280_4_2_1_3_key_usage (RFC 5280 4.2.1.3)"), std::string::npos) << broken.out;
  EXPECT_NE(cli_.custos("lint --rules").out.find("br_6_3_2_subscriber_validity  (BR 6.3.2)"), std::string::npos);

  CommandResult table = cli_.custos("--dir ca admin list", true);
  EXPECT_TRUE(table.out.starts_with("ID  STATUS")) << table.out;
  EXPECT_NE(table.out.find("NOT AFTER"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace custos
