// The token quirks table: rows by what a token reports, defaults from the
// standard for every other token.
#include <gtest/gtest.h>

#include <algorithm>

#include "hsm/module.h"
#include "hsm/quirks.h"
#include "tests/support/test_token.h"

namespace custos::hsm {
namespace {

TEST(Quirks, AnUnknownTokenGetsTheStandardsDefaults) {
  const TokenQuirks& quirks = quirks_for("Acme PKCS#11", "Acme HSM Corp", "Model 9");
  EXPECT_EQ(quirks.login_attempts, 1);
  EXPECT_TRUE(quirks.transient_login_errors.empty());
  EXPECT_FALSE(quirks.serialise_login);
  EXPECT_EQ(quirks.oaep_digests, (std::vector<OaepDigest>{OaepDigest::kSha256, OaepDigest::kSha1}));
  EXPECT_TRUE(quirks.usages_it_decides.empty());
  EXPECT_FALSE(quirks.open_sessions_one_at_a_time);
  EXPECT_EQ(quirk_row_for("Acme PKCS#11", "Acme HSM Corp", "Model 9"), nullptr);
}

// tpm2-pkcs11's row is found by the library, whatever TPM vendor the token
// names (swtpm says IBM; a real TPM its maker).
TEST(Quirks, Tpm2Pkcs11IsFoundByItsLibraryOnAnyTpm) {
  for (const char* vendor : {"IBM", "Infineon", "STMicro"}) {
    const TokenQuirks& quirks = quirks_for("tpm2-software.github.io", vendor, "SW   TPM");
    EXPECT_EQ(quirks.usages_it_decides.size(), 4u) << vendor;
    EXPECT_FALSE(quirks.serialise_login) << vendor;
    EXPECT_TRUE(quirks.open_sessions_one_at_a_time) << vendor;
    EXPECT_EQ(quirk_row_for("tpm2-software.github.io", vendor, "SW   TPM")->name, "tpm2-pkcs11");
  }
}

TEST(Quirks, EveryRowSaysWhyAndNamesALibraryOrAManufacturer) {
  for (const QuirkRow& row : quirk_table()) {
    EXPECT_FALSE(row.library.empty() && row.manufacturer.empty()) << row.why;
    EXPECT_FALSE(row.name.empty()) << row.why;
    EXPECT_GT(row.why.size(), 20u) << row.manufacturer;
    EXPECT_GE(row.quirks.login_attempts, 1) << row.manufacturer;
    EXPECT_FALSE(row.quirks.oaep_digests.empty()) << row.manufacturer;
  }
}

// The row is found from what the real token reports through PKCS#11, not
// from a name written in a test.
TEST(Quirks, SoftHsmIsFoundByWhatItReports) {
  testing::TestToken::instance().create_token("quirks", "1234");
  auto module = Module::load(testing::TestToken::module_path());
  TokenDescription token = module->find_token("quirks");
  const TokenQuirks& quirks = quirks_for(token);
  EXPECT_TRUE(quirks.serialise_login) << token.manufacturer << " / " << token.model;
  EXPECT_EQ(quirks.login_attempts, 3);
  EXPECT_NE(std::find(quirks.transient_login_errors.begin(), quirks.transient_login_errors.end(),
                      static_cast<CK_RV>(CKR_GENERAL_ERROR)),
            quirks.transient_login_errors.end());
  EXPECT_EQ(quirks.oaep_digests, std::vector<OaepDigest>{OaepDigest::kSha1});
}

}  // namespace
}  // namespace custos::hsm
