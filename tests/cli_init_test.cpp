// custos init, ca-cert, config and install-ca-cert through the binary, with
// a SoftHSM token, verified by the real openssl, certtool, certutil and
// sqlcipher.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <string>

#include "appliance/engine/authority.h"
#include "storage/audit.h"
#include "tests/support/audit_log.h"
#include "tests/support/cli.h"

namespace custos {
namespace {

using testing::CliFixture;
using testing::CommandResult;
using testing::quote;
using testing::run_command;
using testing::succeeded;

class KeyTypeInit : public ::testing::TestWithParam<std::string> {};

TEST_P(KeyTypeInit, RootCertificateVerifiesAndCarriesTheCaExtensions) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=Test Root,O=Custos Tests' --key " + GetParam(), true)));
  std::string ca = (cli.work() / "ca" / "ca.pem").string();

  EXPECT_TRUE(succeeded(run_command("openssl verify -CAfile " + quote(ca) + " " + quote(ca))));
  CommandResult text = run_command("openssl x509 -noout -text -in " + quote(ca));
  ASSERT_TRUE(succeeded(text));
  EXPECT_NE(text.out.find("X509v3 Basic Constraints: critical\n                CA:TRUE"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("X509v3 Subject Key Identifier"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Subject: O = Custos Tests, CN = Test Root"), std::string::npos) << text.out;

  EXPECT_TRUE(succeeded(
      run_command("certtool --verify --load-ca-certificate " + quote(ca) + " --infile " + quote(ca))));
}

INSTANTIATE_TEST_SUITE_P(EveryKeyType, KeyTypeInit,
                         ::testing::Values("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"),
                         [](const ::testing::TestParamInfo<std::string>& parameter) {
                           std::string name = parameter.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

class NssAccepts : public ::testing::TestWithParam<std::string> {};

TEST_P(NssAccepts, RootCertificateIsAValidCaForNss) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=NSS Root' --key " + GetParam(), true)));
  std::string nss = "sql:" + (cli.work() / "nss").string();
  ASSERT_TRUE(succeeded(run_command("mkdir -p " + quote((cli.work() / "nss").string()) + " && certutil -N -d " +
                                    quote(nss) + " --empty-password")));
  ASSERT_TRUE(succeeded(run_command("certutil -A -d " + quote(nss) + " -n root -t C,, -i " +
                                    quote((cli.work() / "ca" / "ca.pem").string()))));
  CommandResult verified = run_command("certutil -V -d " + quote(nss) + " -n root -u L");
  EXPECT_TRUE(succeeded(verified));
  EXPECT_NE(verified.out.find("certificate is valid"), std::string::npos) << verified.out;
}

INSTANTIATE_TEST_SUITE_P(AcceptanceKeyTypes, NssAccepts, ::testing::Values("ec-p256", "rsa-3072"),
                         [](const ::testing::TestParamInfo<std::string>& parameter) {
                           std::string name = parameter.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Init, DatabaseIsEncryptedAndOpensOnlyThroughTheToken) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=Encrypted Root' --key ec-p256", true)));
  std::filesystem::path database = cli.work() / "ca" / "custos.db";
  EXPECT_NE(testing::read_file(database).substr(0, 16), std::string("SQLite format 3\0", 16));

  CommandResult wrong_key = run_command(
      "printf \"PRAGMA key = \\\"x'" + std::string(64, '0') + "'\\\";\\nSELECT count(*) FROM sqlite_master;\\n\" | sqlcipher " +
      quote(database.string()));
  EXPECT_NE(wrong_key.status, 0);
  EXPECT_NE((wrong_key.out + wrong_key.err).find("file is encrypted or is not a database"), std::string::npos)
      << wrong_key.out << wrong_key.err;

  // Through the token, the same file opens and holds the record of creation.
  auto ca = engine::CertificateAuthority::open(cli.work() / "ca", cli.token_options());
  std::vector<storage::AuditRecord> log = testing::whole_audit_log(ca->store());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].event, "ca_created");
  EXPECT_NE(log[0].detail.find("\"subject\":\"CN=Encrypted Root\""), std::string::npos) << log[0].detail;
  EXPECT_EQ(storage::first_broken_audit_entry(log), std::nullopt);
}

// Where relying parties check revocation is asked for at init; without it
// init says so. The URLs reach custos.toml and every leaf, with the default
// server profile's BR policy.
TEST(Init, PublicationUrlsGoIntoTheConfigurationAndTheCertificates) {
  CliFixture cli;
  CommandResult bare = cli.custos("--dir bare init --subject 'CN=Bare Root' --key ec-p256", true);
  ASSERT_TRUE(succeeded(bare)) << bare.err;
  EXPECT_NE(bare.err.find("no CRL or OCSP URL"), std::string::npos) << bare.err;

  CommandResult published = cli.custos(
      "--dir ca init --subject 'CN=Published Root' --key ec-p256 --crl-url http://crl.example/root.crl "
      "--ocsp-url http://ocsp.example --ca-issuers-url http://ca.example/root.cer",
      true);
  ASSERT_TRUE(succeeded(published)) << published.err;
  EXPECT_EQ(published.err.find("no CRL or OCSP URL"), std::string::npos) << published.err;
  std::string config = testing::read_file(cli.work() / "ca" / "custos.toml");
  EXPECT_NE(config.find("distribution_points = ['http://crl.example/root.crl']"), std::string::npos) << config;
  EXPECT_NE(config.find("ocsp = ['http://ocsp.example']"), std::string::npos) << config;

  CommandResult request = run_command("cd " + quote(cli.work().string()) +
                                      " && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                                      "-keyout www.key -subj /CN=www.example -addext subjectAltName=DNS:www.example "
                                      "-out www.csr 2>/dev/null");
  ASSERT_TRUE(succeeded(request));
  ASSERT_TRUE(succeeded(cli.custos("--dir ca submit --csr www.csr --out www.pem", true)));
  CommandResult text = run_command("openssl x509 -noout -text -in " + quote((cli.work() / "www.pem").string()));
  EXPECT_NE(text.out.find("URI:http://crl.example/root.crl"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("OCSP - URI:http://ocsp.example"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("CA Issuers - URI:http://ca.example/root.cer"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Policy: 2.23.140.1.2.1"), std::string::npos) << text.out;

  EXPECT_EQ(cli.custos("--dir other init --subject 'CN=Comma Root' --key ec-p256 --crl-url http://a.example/x,y", true)
                .status,
            1);
}

TEST(Init, RsaOaepDatabaseKeyOpensTheDatabase) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(
      cli.custos("--dir ca init --subject 'CN=Wrapped Root' --key ec-p256 --db-key-method rsa-oaep", true)));
  auto ca = engine::CertificateAuthority::open(cli.work() / "ca", cli.token_options());
  EXPECT_EQ(ca->config().database.key_method, engine::DatabaseKeyMethod::kRsaOaep);
  EXPECT_EQ(testing::whole_audit_log(ca->store()).size(), 1u);
}

TEST(Init, RefusesADirectoryThatHoldsACaAndChangesNothing) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=First' --key ec-p256", true)));
  std::string config = testing::read_file(cli.work() / "ca" / "custos.toml");
  std::string certificate = testing::read_file(cli.work() / "ca" / "ca.pem");
  std::size_t objects = cli.token_object_count();

  CommandResult again = cli.custos("--dir ca init --subject 'CN=Second' --key ec-p384", true);
  EXPECT_EQ(again.status, 1);
  EXPECT_EQ(again.err, "custos: ca already holds a CA (custos.toml exists); init changes nothing\n");
  EXPECT_EQ(testing::read_file(cli.work() / "ca" / "custos.toml"), config);
  EXPECT_EQ(testing::read_file(cli.work() / "ca" / "ca.pem"), certificate);
  EXPECT_EQ(cli.token_object_count(), objects);
}

struct FailureCase {
  std::string name;
  std::string arguments;
  std::string message;
};

void PrintTo(const FailureCase& failure, std::ostream* out) { *out << failure.name; }

class InitFailure : public ::testing::TestWithParam<FailureCase> {};

TEST_P(InitFailure, ExitsOneWithOneLineAndCreatesNothing) {
  CliFixture cli;
  testing::write_file(cli.work() / "wrong-pin", "0000\n", 0600);
  CommandResult result = cli.custos("--dir ca init --subject 'CN=Nothing' " + GetParam().arguments);
  EXPECT_EQ(result.status, 1) << result.err;
  EXPECT_EQ(testing::line_count(testing::custos_lines(result.err)), 1u) << result.err;
  if (testing::TestToken::family() == testing::TokenFamily::kSoftHsm) {
    EXPECT_EQ(testing::line_count(result.err), 1u) << result.err;
  }
  EXPECT_NE(result.err.find(GetParam().message), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(cli.work() / "ca"));
  EXPECT_EQ(cli.token_object_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Causes, InitFailure,
    ::testing::Values(
        FailureCase{"WrongPin", "--key ec-p256 --pin-file wrong-pin", "C_Login: CKR_PIN_INCORRECT"},
        FailureCase{"MissingModule", "--key ec-p256 --pin-file pin --hsm-module /nonexistent/libpkcs11.so",
                    "PKCS#11 module /nonexistent/libpkcs11.so does not exist"},
        FailureCase{"MissingToken", "--key ec-p256 --pin-file pin --token absent", "no token labelled 'absent'"},
        FailureCase{"UnknownKeyType", "--key dsa-1024 --pin-file pin", "unknown key type 'dsa-1024'"},
        // Fails after the keys were made on the token: they must be removed.
        FailureCase{"UnwritableRequest",
                    "--key ec-p256 --pin-file pin --subordinate --csr-out /nonexistent/dir/ca.csr",
                    "cannot create /nonexistent/dir/ca.csr"}),
    [](const ::testing::TestParamInfo<FailureCase>& parameter) { return parameter.param.name; });

TEST(Init, PinComesFromStdinOrCustosPinFileAndIsRequired) {
  CliFixture cli;
  std::string work = "cd " + quote(cli.work().string()) + " && ";
  EXPECT_TRUE(succeeded(run_command(work + "printf '1234\\n' | " + quote(CUSTOS_CLI) +
                                    " --dir a init --subject 'CN=A' --key ec-p256 --pin-stdin")));
  EXPECT_TRUE(succeeded(run_command(work + "CUSTOS_PIN_FILE=pin " + quote(CUSTOS_CLI) +
                                    " --dir b init --subject 'CN=B' --key ec-p256")));
  CommandResult no_pin = cli.custos("--dir c init --subject 'CN=C' --key ec-p256");
  EXPECT_EQ(no_pin.status, 2);
  EXPECT_EQ(no_pin.err, "custos: no token PIN given: use --pin-file FILE, --pin-stdin or CUSTOS_PIN_FILE\n");
}

TEST(Init, SubordinateRequestIsSignedByTheParentAndInstalled) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos(
      "--dir sub init --subject 'CN=Issuing CA,O=Custos Tests' --key ec-p384 --subordinate --csr-out sub.csr", true)));
  ASSERT_TRUE(succeeded(run_command("cd " + quote(cli.work().string()) + " && openssl req -in sub.csr -verify -noout")));
  CommandResult before = cli.custos("--dir sub ca-cert");
  EXPECT_EQ(before.status, 1);
  EXPECT_NE(before.err.find("not installed yet"), std::string::npos) << before.err;

  // The parent is an outside party, made with the openssl CLI.
  std::string work = "cd " + quote(cli.work().string()) + " && ";
  ASSERT_TRUE(succeeded(run_command(
      work +
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout parent.key -out parent.pem "
      "-subj '/CN=Parent Root' -days 30 -addext basicConstraints=critical,CA:TRUE "
      "-addext keyUsage=critical,keyCertSign,cRLSign && "
      "printf 'basicConstraints=critical,CA:TRUE,pathlen:0\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > ca.ext && "
      "openssl x509 -req -in sub.csr -CA parent.pem -CAkey parent.key -CAcreateserial -days 20 -extfile ca.ext "
      "-out sub.pem && cat sub.pem parent.pem > sub-chain.pem && "
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -subj '/CN=Other' "
      "-out other.csr && openssl x509 -req -in other.csr -CA parent.pem -CAkey parent.key -CAcreateserial "
      "-days 20 -extfile ca.ext -out other.pem && cat other.pem parent.pem > other-chain.pem")));

  CommandResult other = cli.custos("--dir sub install-ca-cert --cert other-chain.pem", true);
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("the certificate is for another key"), std::string::npos) << other.err;
  EXPECT_FALSE(std::filesystem::exists(cli.work() / "sub" / "ca.pem"));

  CommandResult no_root = cli.custos("--dir sub install-ca-cert --cert sub.pem", true);
  EXPECT_EQ(no_root.status, 1);
  EXPECT_NE(no_root.err.find("the issuer 'CN=Parent Root' is not there"), std::string::npos) << no_root.err;

  ASSERT_TRUE(succeeded(cli.custos("--dir sub install-ca-cert --cert sub-chain.pem", true)));
  ASSERT_TRUE(succeeded(cli.custos("--dir sub ca-cert --out chain-out.pem")));
  std::string chain = testing::read_file(cli.work() / "chain-out.pem");
  EXPECT_EQ(chain, testing::read_file(cli.work() / "sub.pem") + testing::read_file(cli.work() / "parent.pem"));
  EXPECT_TRUE(succeeded(run_command(work + "openssl verify -CAfile parent.pem sub/ca.pem")));

  auto ca = engine::CertificateAuthority::open(cli.work() / "sub", cli.token_options());
  std::vector<storage::AuditRecord> log = testing::whole_audit_log(ca->store());
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].event, "ca_certificate_installed");
}

TEST(Init, TwoInitsRacingOnOneDirectoryMakeOneCa) {
  CliFixture cli;
  std::string init = quote(CUSTOS_CLI) + " --dir ca init --subject 'CN=Racing Root' --key ec-p256 --pin-file pin";
  CommandResult raced = run_command("cd " + quote(cli.work().string()) + " && (" + init + " > one.out 2>&1; echo $? > one.status) & (" +
                                    init + " > two.out 2>&1; echo $? > two.status) & wait");
  ASSERT_EQ(raced.status, 0);
  std::string one = testing::read_file(cli.work() / "one.status");
  std::string two = testing::read_file(cli.work() / "two.status");
  EXPECT_EQ((one == "0\n") + (two == "0\n"), 1) << testing::read_file(cli.work() / "one.out")
                                                  << testing::read_file(cli.work() / "two.out");
  EXPECT_TRUE(succeeded(cli.custos("--dir ca config")));
  EXPECT_TRUE(succeeded(run_command("openssl verify -CAfile " + quote((cli.work() / "ca" / "ca.pem").string()) + " " +
                                    quote((cli.work() / "ca" / "ca.pem").string()))));
  // The database key is one secret key, or a key pair where it is wrapped
  // to RSA-OAEP (a token that keeps no HMAC key).
  std::size_t database_key_objects =
      testing::read_file(cli.work() / "ca" / "custos.toml").find("key_method = 'rsa-oaep'") != std::string::npos ? 2 : 1;
  EXPECT_EQ(cli.token_object_count(), 2 + database_key_objects)
      << "the winner's key pair and database key, and nothing of the loser's";
  EXPECT_FALSE(std::filesystem::exists(cli.work() / "ca" / ".init-in-progress"));
}

TEST(Init, ATokenThatOnlySharesTheLabelIsRefused) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=Serial Root' --key ec-p256", true)));
  std::filesystem::path path = cli.work() / "ca" / "custos.toml";
  std::string config = testing::read_file(path);
  std::size_t at = config.find("serial = '");
  ASSERT_NE(at, std::string::npos) << config;
  std::size_t end = config.find('\n', at);
  config.replace(at, end - at, "serial = 'not-the-cas-token'");
  testing::write_file(path, config, 0600);
  CommandResult refused = cli.custos("--dir ca admin list", true);
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("the token labelled 'custos' has serial"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("it is not the CA's token"), std::string::npos) << refused.err;
}

TEST(Config, ShowsTheCaAndItsDefaultProfiles) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=Configured Root,O=Custos Tests' --key rsa-2048", true)));
  CommandResult shown = cli.custos("--dir ca config --json");
  ASSERT_TRUE(succeeded(shown));
  nlohmann::json config = nlohmann::json::parse(shown.out);
  EXPECT_EQ(config["name"], "Configured Root");
  EXPECT_EQ(config["subject"], "CN=Configured Root,O=Custos Tests");
  EXPECT_EQ(config["key"]["type"], "rsa-2048");
  EXPECT_EQ(config["key"]["signature"], "rsa-pkcs1-sha256");
  EXPECT_EQ(config["token"]["label"], "custos");
  // The quirks-table row in force, found from what the token reports.
  EXPECT_EQ(config["token"]["quirks"],
            testing::TestToken::family() == testing::TokenFamily::kTpm ? "tpm2-pkcs11" : "SoftHSMv2");
  EXPECT_EQ(config["policy"]["module"], "builtin:profiles");
  EXPECT_EQ(config["profiles"]["server"]["decision"], "issue");
  EXPECT_EQ(config["profiles"]["server"]["validity_days"], 90);
  EXPECT_EQ(config["profiles"]["client"]["extended_key_usage"], nlohmann::json::array({"clientAuth"}));
  EXPECT_EQ(config["profiles"]["subca"]["decision"], "pend");
  EXPECT_EQ(config["profiles"]["subca"]["path_length"], 0);

  CommandResult text = cli.custos("--dir ca config");
  ASSERT_TRUE(succeeded(text));
  EXPECT_NE(text.out.find("subject     CN=Configured Root,O=Custos Tests"), std::string::npos) << text.out;
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=Strict' --key ec-p256", true)));
  std::filesystem::path path = cli.work() / "ca" / "custos.toml";
  testing::write_file(path, testing::read_file(path) + "\n[profiles.web]\ndecision = \"issue\"\nvalidity_days = 30\ncolour = \"blue\"\n");
  CommandResult shown = cli.custos("--dir ca config");
  EXPECT_EQ(shown.status, 1);
  EXPECT_NE(shown.err.find("unknown key 'profiles.web.colour'"), std::string::npos) << shown.err;
}

// A float where an integer belongs is refused as not an integer, however
// large: 3e36 was converted to int64 without a range check (undefined
// behaviour under UBSan, found by fuzz_config), and 2000.0 was taken as 2000.
TEST(Config, AFloatWhereAnIntegerBelongsIsRefusedNotConverted) {
  CliFixture cli;
  ASSERT_TRUE(succeeded(cli.custos("--dir ca init --subject 'CN=Strict' --key ec-p256", true)));
  std::filesystem::path path = cli.work() / "ca" / "custos.toml";
  const std::string written = testing::read_file(path);
  struct Case {
    std::string key, value, error;
  };
  for (const Case& edit : {Case{"next_update_hours", "3e36", "'crl.next_update_hours' must be set to an integer"},
                           Case{"next_update_hours", "168.0", "'crl.next_update_hours' must be set to an integer"},
                           Case{"timeout_ms", "1e300", "'policy.timeout_ms' must be 1 to 600000"},
                           Case{"timeout_ms", "2000.0", "'policy.timeout_ms' must be 1 to 600000"}}) {
    std::regex line("\n" + edit.key + " = [0-9]+\n");
    ASSERT_TRUE(std::regex_search(written, line)) << edit.key;
    testing::write_file(path, std::regex_replace(written, line, "\n" + edit.key + " = " + edit.value + "\n"));
    CommandResult shown = cli.custos("--dir ca config");
    EXPECT_EQ(shown.status, 1) << edit.value;
    EXPECT_NE(shown.err.find(edit.error), std::string::npos) << shown.err;
  }
}

TEST(Cli, UsageErrorsExitTwo) {
  CliFixture cli;
  EXPECT_EQ(cli.custos("init --subject 'CN=x'").status, 2);
  EXPECT_EQ(cli.custos("no-such-command").status, 2);
  EXPECT_EQ(cli.custos("--help").status, 0);
  EXPECT_EQ(cli.custos("--dir nowhere config").status, 1);
}

// With no --dir and no CUSTOS_DIR the CA directory is the working one; when
// that was removed under the shell, one line says so (custos aborted on an
// uncaught filesystem_error before).
TEST(Cli, AVanishedWorkingDirectoryIsAOneLineError) {
  CliFixture cli;
  for (const std::string command : {"submit --csr www.csr", "config"}) {
    CommandResult result = testing::run_command("mkdir -p " + testing::quote((cli.work() / "gone").string()) + " && cd " +
                                                testing::quote((cli.work() / "gone").string()) +
                                                " && rmdir ../gone && env -u CUSTOS_DIR " + testing::quote(CUSTOS_CLI) +
                                                " " + command);
    EXPECT_EQ(result.status, 1) << command << ": " << result.err;
    EXPECT_EQ(result.err,
              "custos: the working directory: No such file or directory; give --dir DIR or set CUSTOS_DIR\n")
        << command;
  }
}

// `custos token check` tries each key type and database-key method on the
// token in scratch objects, says why what fails fails (by mechanism), names
// the method init would choose, which works, and leaves nothing behind.
TEST(TokenCheck, TriesEverythingNamesWhatIsMissingAndLeavesNothingBehind) {
  CliFixture cli;
  CommandResult checked = cli.custos("token check --json", true);
  ASSERT_TRUE(succeeded(checked));
  nlohmann::json check = nlohmann::json::parse(checked.out);
  EXPECT_EQ(check["token"]["label"], "custos");
  EXPECT_FALSE(check["mechanisms"].empty());
  std::map<std::string, bool> works;
  for (const nlohmann::json& trial : check["key_types"]) {
    works[trial["name"]] = trial["works"];
    if (!trial["works"].get<bool>()) {
      EXPECT_NE(trial["detail"].get<std::string>().find("CKM_"), std::string::npos) << trial.dump();
    }
  }
  EXPECT_EQ(works.size(), 6u);
  EXPECT_TRUE(works["ec-p256"]);
  std::string chosen = check["init_chooses_database_key_method"];
  bool chosen_works = false;
  for (const nlohmann::json& trial : check["database_key_methods"]) {
    if (trial["name"] == chosen) chosen_works = trial["works"];
  }
  EXPECT_TRUE(chosen_works) << check.dump(2);
  EXPECT_EQ(cli.token_object_count(), 0u);
  // What the check says works, init makes.
  for (const auto& [key_type, usable] : works) {
    if (key_type == "ec-p256" || key_type == "rsa-4096") {
      CommandResult init = cli.custos("--dir ca-" + key_type + " init --subject 'CN=Checked' --key " + key_type, true);
      EXPECT_EQ(init.status == 0, usable) << key_type << ": " << init.err;
    }
  }
}

}  // namespace
}  // namespace custos
