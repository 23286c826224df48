// The built-in LDAP exit module against a real slapd on 127.0.0.1: an
// issued certificate lands in its holder's entry as userCertificate;binary,
// a CRL in the CA's entry as certificateRevocationList;binary, both as
// ldapsearch reads them; a missing entry keeps the event for later.
#include <gtest/gtest.h>

#include "common/encoding.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/slapd.h"
#include "tests/support/test_token.h"

namespace custos::engine {
namespace {

using storage::RequestState;

// The base64 value of `attribute` in ldapsearch -LLL output.
std::vector<std::uint8_t> value_of(const std::string& ldif, const std::string& attribute) {
  std::string marker = attribute + ":: ";
  std::size_t at = ldif.find(marker);
  if (at == std::string::npos) return {};
  std::size_t end = ldif.find('\n', at);
  return from_base64(ldif.substr(at + marker.size(), end - at - marker.size()));
}

class LdapExit : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    slapd_ = std::make_unique<testing::Slapd>(testing::TestToken::instance().make_directory("ldap"));
    slapd_->add(
        "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n"
        "dn: cn=www.example,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\ncn: www.example\nsn: www\n\n"
        "dn: cn=Engine Test Root,dc=example,dc=org\nobjectClass: organizationalRole\nobjectClass: pkiCA\n"
        "cn: Engine Test Root\n");
    init();
    std::filesystem::path config = directory_ / "custos.toml";
    testing::write_file(config,
                        testing::read_file(config) +
                            "\n[[exit]]\nmodule = \"builtin:ldap\"\nnetwork = true\nuri = \"" + slapd_->uri() +
                            "\"\nbind_dn = \"cn=admin,dc=example,dc=org\"\nbind_password = \"secret\"\n"
                            "entry = \"cn={cn},ou=people,dc=example,dc=org\"\n"
                            "ca_entry = \"cn=Engine Test Root,dc=example,dc=org\"\n",
                        0600);
    open();
  }

  std::unique_ptr<testing::Slapd> slapd_;
};

TEST_F(LdapExit, CertificatesAndCrlsAreReadableWithLdapsearch) {
  Disposition issued = submit("www.example");
  ASSERT_EQ(issued.state, RequestState::kIssued) << issued.message;
  PublishedCrl crl = engine_->publish_crl("test");
  std::vector<std::string> failures = engine_->deliver_events();
  EXPECT_TRUE(failures.empty()) << (failures.empty() ? "" : failures[0]) << "\n" << module_log();

  testing::CommandResult user = slapd_->read("cn=www.example,ou=people,dc=example,dc=org", "userCertificate;binary");
  ASSERT_EQ(user.status, 0) << user.err;
  EXPECT_EQ(value_of(user.out, "userCertificate;binary"), issued.certificate) << user.out;
  testing::CommandResult ca = slapd_->read("cn=Engine Test Root,dc=example,dc=org", "certificateRevocationList;binary");
  ASSERT_EQ(ca.status, 0) << ca.err;
  EXPECT_EQ(value_of(ca.out, "certificateRevocationList;binary"), crl.der) << ca.out;
  EXPECT_TRUE(ca_->store().outbox().empty());
  EXPECT_TRUE(module_log_holds("builtin:ldap: namespaces user,mount,pid,ipc")) << module_log();
}

TEST_F(LdapExit, AMissingEntryKeepsTheEventUntilItExists) {
  Disposition issued = submit("nobody-yet.example");
  std::vector<std::string> failures = engine_->deliver_events();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("could not publish the event"), std::string::npos) << failures[0];
  EXPECT_TRUE(module_log_holds("No such object")) << module_log();
  EXPECT_EQ(ca_->store().outbox().size(), 1u);

  slapd_->add("dn: cn=nobody-yet.example,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n"
              "cn: nobody-yet.example\nsn: nobody\n");
  open();
  EXPECT_TRUE(engine_->deliver_events().empty());
  testing::CommandResult user =
      slapd_->read("cn=nobody-yet.example,ou=people,dc=example,dc=org", "userCertificate;binary");
  EXPECT_EQ(value_of(user.out, "userCertificate;binary"), issued.certificate) << user.out;
}

}  // namespace
}  // namespace custos::engine
