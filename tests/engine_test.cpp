// The request flow in process, on a SoftHSM token and a SQLCipher store:
// a thousand certificates with a thousand distinct serials, a policy module
// that crashes, hangs or answers garbage (the request stays pending with the
// reason, the engine goes on), and the rules the engine never delegates.
#include <gtest/gtest.h>

#include <set>

#include "appliance/engine/engine.h"
#include "appliance/x509/certificate.h"
#include "appliance/x509/name.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "tests/support/audit_log.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/python_module.h"
#include "tests/support/requests.h"
#include "tests/support/test_token.h"

namespace custos::engine {
namespace {

using storage::RequestState;

// A policy module in Python, speaking protocol v1 on stdin/stdout. What it
// does depends on the request's subject.
constexpr char kPythonPolicy[] = R"py(
import time
read()
write({"type": "hello", "protocol": 1, "name": "python-test-policy"})
while True:
    message = read()
    if message["type"] == "shutdown":
        sys.stderr.write("python-test-policy: shutdown read\n")
        sys.exit(0)
    subject = message["request"]["subject"]
    if "crash" in subject:
        import ctypes
        ctypes.string_at(0)  # a real fault: the kernel's SIGSEGV reaches even a namespace's init
    if "hang" in subject:
        time.sleep(60)
    if "garbage" in subject:
        stream_out.write(b"\x00\x00\x00\x05hello")
        stream_out.flush()
        continue
    if "unknown-field" in subject:
        write({"type": "verdict", "decision": "issue", "message": "", "colour": "blue"})
        continue
    verdict = {"type": "verdict", "decision": "issue", "message": "python says yes"}
    if "make-ca" in subject:
        verdict["certificate"] = {"extensions_add": [{"oid": "2.5.29.19", "critical": True, "der": "MAMBAf8="}]}
    write(verdict)
)py";

// The message of the custos::Error `action` throws, or "" when it throws none.
template <typename Action>
std::string error_of(Action&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

class EngineTest : public testing::EngineFixture {
 protected:
  void use_python_policy() {
    std::filesystem::path script = directory_ / "policy.py";
    testing::write_file(script, testing::python_module(kPythonPolicy), 0644);
    set_policy_module("exec:/usr/bin/python3 " + script.string());
  }
};

TEST_F(EngineTest, AThousandCertificatesHaveAThousandDistinctSerials) {
  init();
  open();
  std::set<std::string> serials;
  for (int i = 0; i < 1000; ++i) {
    Disposition disposition = submit("host-" + std::to_string(i) + ".example");
    ASSERT_EQ(disposition.state, RequestState::kIssued) << disposition.message;
    ASSERT_TRUE(disposition.serial);
    EXPECT_EQ(disposition.serial->size(), 32u) << "a 128-bit serial";
    serials.insert(*disposition.serial);
  }
  EXPECT_EQ(serials.size(), 1000u);
  EXPECT_EQ(ca_->store().list_requests(RequestState::kIssued, {}).size(), 1000u);
}

TEST_F(EngineTest, IssuedCertificateVerifiesAndTheOutboxRecordsIt) {
  init();
  open();
  Disposition disposition = submit("www.example");
  ASSERT_EQ(disposition.state, RequestState::kIssued) << disposition.message;
  ossl::Ptr<X509> certificate = certificate_of(disposition);
  EXPECT_EQ(X509_verify(certificate.get(), X509_get0_pubkey(engine_->ca_certificate())), 1);
  std::vector<storage::OutboxRecord> outbox = ca_->store().outbox();
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0].event.event, "certificate_issued");
  EXPECT_EQ(outbox[0].event.serial, disposition.serial);
}

TEST_F(EngineTest, CrashingPolicyModuleLeavesThePendingReasonAndTheNextRequestIssues) {
  init();
  use_python_policy();
  open();
  Disposition crashed = submit("crash.example");
  EXPECT_EQ(crashed.state, RequestState::kPending);
  EXPECT_NE(crashed.message.find("was killed by signal 11"), std::string::npos) << crashed.message;
  EXPECT_EQ(ca_->store().outbox().back().event.event, "request_pending");

  Disposition next = submit("fine.example");
  EXPECT_EQ(next.state, RequestState::kIssued) << next.message;
  EXPECT_EQ(next.message, "python says yes");
}

TEST_F(EngineTest, HangingPolicyModuleTimesOutAndIsReplaced) {
  init();
  use_python_policy();
  open();
  auto started = std::chrono::steady_clock::now();
  Disposition hung = submit("hang.example");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_EQ(hung.state, RequestState::kPending);
  EXPECT_NE(hung.message.find("did not answer within 1000 ms"), std::string::npos) << hung.message;
  EXPECT_EQ(submit("fine.example").state, RequestState::kIssued);
}

// What a local command does at its end: the modules get their shutdown
// and end while the command signs its audit checkpoint; a question after
// that goes to a module started again, not to the one that was let go.
TEST_F(EngineTest, AModuleAskedToShutDownEndsAndTheNextQuestionStartsItAgain) {
  init();
  use_python_policy();
  open();
  ASSERT_EQ(submit("first.example").state, RequestState::kIssued);
  engine_->ask_modules_to_shut_down();
  EXPECT_TRUE(module_log_holds("python-test-policy: shutdown read")) << module_log();
  EXPECT_EQ(module_log().find("restarting"), std::string::npos) << module_log();

  Disposition next = submit("second.example");
  EXPECT_EQ(next.state, RequestState::kIssued) << next.message;
  EXPECT_EQ(next.message, "python says yes");
  EXPECT_NE(module_log().find("(start 2)"), std::string::npos) << module_log();
}

TEST_F(EngineTest, GarbageAndUnknownFieldsLeaveThePendingReason) {
  init();
  use_python_policy();
  open();
  Disposition garbage = submit("garbage.example");
  EXPECT_EQ(garbage.state, RequestState::kPending);
  EXPECT_NE(garbage.message.find("not valid JSON"), std::string::npos) << garbage.message;
  Disposition unknown = submit("unknown-field.example");
  EXPECT_EQ(unknown.state, RequestState::kPending);
  EXPECT_NE(unknown.message.find("unknown field 'colour'"), std::string::npos) << unknown.message;
  EXPECT_EQ(submit("fine.example").state, RequestState::kIssued);
}

TEST_F(EngineTest, PolicyCannotMakeACaCertificate) {
  init();
  use_python_policy();
  open();
  Disposition disposition = submit("make-ca.example");
  EXPECT_EQ(disposition.state, RequestState::kDenied);
  EXPECT_NE(disposition.message.find("2.5.29.19 is set by the engine"), std::string::npos) << disposition.message;
}

TEST_F(EngineTest, ValidityEndsWithTheCaCertificate) {
  init(30);
  open();
  Disposition disposition = submit("client.example", nullptr, "client");
  ASSERT_EQ(disposition.state, RequestState::kIssued) << disposition.message;
  ossl::Ptr<X509> certificate = certificate_of(disposition);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(certificate.get()), X509_get0_notAfter(engine_->ca_certificate())), 0);
  EXPECT_NE(disposition.message.find("validity ends with the CA certificate"), std::string::npos);
}

TEST_F(EngineTest, ServerValidityIsCappedByTheCaBrowserForumMaximum) {
  EXPECT_EQ(cabf_max_server_validity_days(parse_rfc3339("2026-03-14T23:59:59Z")), 398);
  EXPECT_EQ(cabf_max_server_validity_days(parse_rfc3339("2026-11-23T00:00:00Z")), 200);
  EXPECT_EQ(cabf_max_server_validity_days(parse_rfc3339("2027-03-15T00:00:00Z")), 100);
  EXPECT_EQ(cabf_max_server_validity_days(parse_rfc3339("2029-03-15T00:00:00Z")), 47);
}

// Replaces `from` by `to` in the CA's custos.toml.
void edit_config(const std::filesystem::path& directory, const std::string& from, const std::string& to) {
  std::string text = testing::read_file(directory / "custos.toml");
  ASSERT_NE(text.find(from), std::string::npos) << from;
  text.replace(text.find(from), from.size(), to);
  testing::write_file(directory / "custos.toml", text, 0600);
}

long validity_seconds(const X509* certificate) {
  return static_cast<long>(x509::not_after_time(certificate) - x509::not_before_time(certificate));
}

// BR 6.3.2 and RFC 5280 count both ends of the validity period: N days
// end one second before notBefore + N days, the CA/Browser Forum maximum
// too.
TEST_F(EngineTest, ValidityCountsBothEndsAndTheMaximumIsNotASecondLonger) {
  init();
  edit_config(directory_, "[profiles.server]\ndecision = \"issue\"\nvalidity_days = 90",
              "[profiles.server]\ndecision = \"issue\"\nvalidity_days = 398");
  open();
  Disposition capped = submit("www.example");
  ASSERT_EQ(capped.state, RequestState::kIssued) << capped.message;
  int maximum = cabf_max_server_validity_days(std::time(nullptr));
  EXPECT_EQ(validity_seconds(certificate_of(capped).get()), maximum * 86400L - 1);
  Disposition client = submit("client.example", nullptr, "client");
  EXPECT_EQ(validity_seconds(certificate_of(client).get()), 365 * 86400L - 1);
  EXPECT_EQ(validity_seconds(engine_->ca_certificate()), 3650 * 86400L - 1);
}

// A TLS issuing CA (EKU serverAuth and clientAuth, BR 7.1.2.10.6) is not a
// subscriber: no 200-day cap, and with an RSA key no keyEncipherment
// (BR 7.1.2.10.7).
TEST_F(EngineTest, ACaCertificateIsNeitherCappedAsASubscriberNorGivenKeyEncipherment) {
  init();
  // The default subca profile is such a CA.
  EXPECT_NE(testing::read_file(directory_ / "custos.toml").find("extended_key_usage = [\"serverAuth\", \"clientAuth\"]"),
            std::string::npos);
  open();
  ossl::Ptr<EVP_PKEY> rsa = testing::rsa_key(3072, 65537);
  std::string request = testing::csr_pem(rsa.get(), "Issuing CA", "DNS:issuing.example");
  Disposition pending = engine_->submit(std::span(reinterpret_cast<const std::uint8_t*>(request.data()), request.size()),
                                        {{"profile", "subca"}}, "test");
  ASSERT_EQ(pending.state, RequestState::kPending) << pending.message;
  Disposition issued = engine_->resubmit(pending.request_id, "test");
  ASSERT_EQ(issued.state, RequestState::kIssued) << issued.message;
  EXPECT_EQ(issued.message.find("capped"), std::string::npos) << issued.message;
  ossl::Ptr<X509> certificate = certificate_of(issued);
  EXPECT_EQ(validity_seconds(certificate.get()), 1825 * 86400L - 1);
  EXPECT_EQ(X509_get_key_usage(certificate.get()), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
}

// BR 4.9.10: OCSP responses of a TLS CA last 8 hours to 10 days; the
// default is inside, and a value outside is refused when custos.toml is read.
TEST_F(EngineTest, OcspResponseValidityKeepsToTheBaselineRequirements) {
  init();
  open();
  EXPECT_EQ(ca_->config().ocsp.response_validity_minutes, 720);
  EXPECT_NE(testing::read_file(directory_ / "custos.toml").find("response_validity_minutes = 720"), std::string::npos);
  edit_config(directory_, "response_validity_minutes = 720", "response_validity_minutes = 60");
  EXPECT_NE(error_of([&] { open(); }).find("'ocsp.response_validity_minutes' must be 480 to 14400"), std::string::npos);
}

// The linter stands between the profile and the token: a profile that
// would issue a TLS server certificate without the BR policy gets it
// nowhere near the token; the request waits with the rule and its clause.
TEST_F(EngineTest, ALintErrorKeepsTheCertificateFromTheTokenAndThePendingMessageNamesTheRule) {
  init();
  edit_config(directory_, "certificate_policies = [\"2.23.140.1.2.1\"]   # BR 7.1.2.7.9: domain validated\n", "");
  open();
  Disposition held = submit("www.example");
  EXPECT_EQ(held.state, RequestState::kPending);
  EXPECT_NE(held.message.find("br_7_1_2_7_9_certificate_policies (BR 7.1.2.7.9)"), std::string::npos) << held.message;
  EXPECT_FALSE(held.serial.has_value());
  std::vector<storage::AuditRecord> log = testing::whole_audit_log(ca_->store());
  EXPECT_EQ(log.back().event, "lint_refused");
  // A CRL and an OCSP answer pass it.
  EXPECT_EQ(engine_->publish_crl("test").number, 1);
}

// BR 7.1.3.1 has no Ed25519: the default server profile refuses such a
// key up front, rather than the linter holding the request.
TEST_F(EngineTest, TheDefaultServerProfileRefusesAnEd25519Key) {
  init();
  open();
  ossl::Ptr<EVP_PKEY> edwards = testing::edwards_key("ED25519");
  std::string request = testing::csr_pem(edwards.get(), "ed.example", "DNS:ed.example");
  Disposition refused = engine_->submit(std::span(reinterpret_cast<const std::uint8_t*>(request.data()), request.size()),
                                        {{"profile", "server"}}, "test");
  EXPECT_EQ(refused.state, RequestState::kDenied) << refused.message;
  EXPECT_NE(refused.message.find("ed25519"), std::string::npos) << refused.message;
}

// BR 7.1.2.7.2: a domain-validated certificate names only what the CA
// validated; the organisation a request claims is left out, and said so.
TEST_F(EngineTest, ADomainValidatedCertificateNamesOnlyItsDomainAndCountry) {
  init();
  open();
  ossl::Ptr<X509_NAME> name = x509::parse_name("CN=www.example,O=Unvalidated Ltd,C=DE");
  ossl::Ptr<X509_EXTENSION> san = testing::san_extension("DNS:www.example");
  std::vector<std::uint8_t> request = testing::make_request(key_.get(), name.get(), {san.get()});
  Disposition issued = engine_->submit(request, {{"profile", "server"}}, "test");
  ASSERT_EQ(issued.state, RequestState::kIssued) << issued.message;
  EXPECT_NE(issued.message.find("the subject keeps only its commonName and countryName"), std::string::npos)
      << issued.message;
  EXPECT_EQ(x509::format_name(X509_get_subject_name(certificate_of(issued).get())), "CN=www.example,C=DE");
}

TEST_F(EngineTest, ServerProfileNeedsASanAndRejectedRequestsAreKept) {
  init();
  open();
  Disposition no_san = submit("bare.example", nullptr);
  EXPECT_EQ(no_san.state, RequestState::kDenied);
  EXPECT_EQ(no_san.message, "profile 'server' requires a subjectAltName in the request");

  // A request whose signature does not verify is stored, denied, with why.
  std::vector<std::uint8_t> request = testing::make_request(key_.get(), X509_get_subject_name(engine_->ca_certificate()));
  request[request.size() - 5] ^= 0x01;
  Disposition forged = engine_->submit(request, {}, "test");
  EXPECT_EQ(forged.state, RequestState::kDenied);
  EXPECT_NE(forged.message.find("signature does not verify"), std::string::npos) << forged.message;
  EXPECT_EQ(ca_->store().find_request(forged.request_id)->csr, request);
}

TEST_F(EngineTest, AdministrationRefusesWhatMakesNoSense) {
  init();
  open();
  Disposition issued = submit("www.example");
  EXPECT_EQ(error_of([&] { engine_->resubmit(issued.request_id, "test"); }),
            "request 1 is issued; only a pending, denied or failed request can be resubmitted");
  EXPECT_EQ(error_of([&] { engine_->deny(issued.request_id, "", "test"); }),
            "request 1 is issued; only a pending request can be changed");
  EXPECT_EQ(error_of([&] { engine_->revoke("0BADC0DE", "keyCompromise", std::nullopt, "test"); }),
            "there is no certificate with serial 0BADC0DE issued by this CA");
  EXPECT_NE(error_of([&] { engine_->revoke(*issued.serial, "removeFromCRL", std::nullopt, "test"); })
                .find("is not a revocation reason"),
            std::string::npos);
  engine_->revoke(*issued.serial, "superseded", std::nullopt, "test");
  EXPECT_EQ(error_of([&] { engine_->revoke(*issued.serial, "keyCompromise", std::nullopt, "test"); }),
            "the certificate " + *issued.serial + " is already revoked (superseded)");
  EXPECT_EQ(engine_->retrieve(issued.request_id).state, RequestState::kRevoked);
}

// The rules that hold for a module's verdict hold for an administrator's
// edits: they are checked on the finished certificate, not on the path.
TEST_F(EngineTest, AnAdministratorsEditsMeetTheSameRulesAsAVerdict) {
  init();
  open();
  Disposition pending = submit("Sub CA", "DNS:sub.example", "subca");
  ASSERT_EQ(pending.state, RequestState::kPending) << pending.message;
  // id-kp-OCSPSigning: the CA's delegated responder, which no profile here grants.
  engine_->set_extension(pending.request_id, "2.5.29.37", from_hex("300a06082b06010505070309"), false, "test");
  Disposition refused = engine_->resubmit(pending.request_id, "test");
  EXPECT_EQ(refused.state, RequestState::kDenied);
  EXPECT_NE(refused.message.find("OCSPSigning (1.3.6.1.5.5.7.3.9) is not one the profile grants"), std::string::npos)
      << refused.message;

  Disposition again = submit("Sub CA 2", "DNS:sub2.example", "subca");
  // "2.5.29.019" is read as basicConstraints, and so refused as the engine's.
  engine_->set_extension(again.request_id, "2.5.29.019", from_hex("3003010100"), true, "test");
  Disposition leaf = engine_->resubmit(again.request_id, "test");
  EXPECT_EQ(leaf.state, RequestState::kDenied);
  EXPECT_NE(leaf.message.find("2.5.29.19 is set by the engine"), std::string::npos) << leaf.message;
}

TEST_F(EngineTest, AClaimedRequestCannotBeDeniedEditedOrResubmittedAgain) {
  init();
  open();
  Disposition pending = submit("sub.example", nullptr, "subca");
  ASSERT_EQ(pending.state, RequestState::kPending);
  // Another administrator's resubmission has claimed it and is deciding.
  ca_->store().change_request_state(pending.request_id, {RequestState::kPending}, RequestState::kReceived,
                                    "resubmitted by an administrator", std::nullopt, {"other", "request_resubmitted", {}});
  EXPECT_NE(error_of([&] { engine_->deny(pending.request_id, "", "test"); }).find("only a pending request"),
            std::string::npos);
  EXPECT_NE(error_of([&] { engine_->set_attribute(pending.request_id, "x", "y", "test"); }).find("only a pending"),
            std::string::npos);
  EXPECT_NE(error_of([&] { engine_->resubmit(pending.request_id, "test"); }).find("is received"), std::string::npos);
  EXPECT_EQ(engine_->retrieve(pending.request_id).state, RequestState::kReceived);
}

TEST_F(EngineTest, TheCertificateCarriesTheRequestsSubjectByteForByte) {
  init();
  open();
  // A multi-valued RDN (CN and OU in one set), which RFC 4514 text cannot
  // be parsed back into by the CLI's name syntax.
  ossl::Ptr<X509_NAME> subject(X509_NAME_new());
  X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("both.example"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject.get(), "OU", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("PKI"), -1, -1,
                             1);
  ossl::Ptr<X509_EXTENSION> san = testing::san_extension("DNS:both.example");
  std::vector<std::uint8_t> request = testing::make_request(key_.get(), subject.get(), {san.get()});
  // Under `client`: a domain-validated server certificate keeps its CN alone.
  Disposition issued = engine_->submit(request, {{"profile", "client"}}, "test");
  ASSERT_EQ(issued.state, RequestState::kIssued) << issued.message;
  ossl::Ptr<X509> certificate = certificate_of(issued);
  EXPECT_EQ(ossl::to_der(X509_get_subject_name(certificate.get()), i2d_X509_NAME, "subject"),
            ossl::to_der(subject.get(), i2d_X509_NAME, "subject"));
}

TEST_F(EngineTest, ACaCertificateForAnotherKeyIsRefused) {
  init();
  testing::CommandResult made = testing::run_command(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + (directory_ / "impostor.key").string() + " -subj /CN=Impostor "
      "-days 1 -out " + (directory_ / "ca.pem").string());
  ASSERT_EQ(made.status, 0) << made.err;
  try {
    open();
    FAIL() << "the engine opened with another key's CA certificate";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("is not the certificate of the CA key"), std::string::npos) << error.what();
  }
}

TEST(NetworkDestination, AUrlOrHostAndPortBecomesHostAndPort) {
  EXPECT_EQ(network_destination("ldaps://dir.example:636"), "dir.example:636");
  EXPECT_EQ(network_destination("https://hr.example/api?x=1"), "hr.example:443");
  EXPECT_EQ(network_destination("ldap://dir.example"), "dir.example:389");
  EXPECT_EQ(network_destination("hr.example:8443"), "hr.example:8443");
  EXPECT_EQ(network_destination("192.0.2.10:80"), "192.0.2.10:80");
  for (const char* refused : {"hr.example", "gopher://hr.example", "[2001:db8::1]:443", "hr.example:0",
                              "hr.example:65536", "hr example:80", ":80", "https://:443/"}) {
    EXPECT_THROW(network_destination(refused), Error) << refused;
  }
}

}  // namespace
}  // namespace custos::engine
