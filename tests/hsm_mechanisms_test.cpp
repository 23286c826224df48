// Mechanism choice from what a token reports, for token shapes we cannot
// run here: a FIPS-mode token without CKM_RSA_PKCS, one without Ed25519,
// one that caps RSA at 2048 bits.
#include <gtest/gtest.h>

#include "common/error.h"
#include "hsm/mechanisms.h"

namespace custos::hsm {
namespace {

MechanismSet with(std::initializer_list<std::pair<CK_MECHANISM_TYPE, CK_FLAGS>> entries,
                  CK_ULONG max_rsa_bits = 4096) {
  MechanismSet set;
  for (auto [mechanism, flags] : entries) {
    CK_MECHANISM_INFO info{};
    info.flags = flags;
    if (mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN) {
      info.ulMinKeySize = 1024;
      info.ulMaxKeySize = max_rsa_bits;
    }
    set[mechanism] = info;
  }
  return set;
}

std::string error_of(auto&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(MechanismChoice, FipsTokenWithoutPkcs1GetsRsaPss) {
  MechanismSet fips = with({{CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR}, {CKM_RSA_PKCS_PSS, CKF_SIGN}});
  EXPECT_EQ(choose_signature_scheme(KeyType::kRsa3072, fips), SignatureScheme::kRsaPssSha256);
  auto mechanism = find_signing_mechanism(SignatureScheme::kRsaPssSha256, fips);
  ASSERT_TRUE(mechanism);
  EXPECT_EQ(mechanism->mechanism, static_cast<CK_MECHANISM_TYPE>(CKM_RSA_PKCS_PSS));
  EXPECT_TRUE(mechanism->hash_in_software);
}

TEST(MechanismChoice, TokenWithBothPrefersPkcs1) {
  MechanismSet both = with({{CKM_RSA_PKCS, CKF_SIGN}, {CKM_RSA_PKCS_PSS, CKF_SIGN}});
  EXPECT_EQ(choose_signature_scheme(KeyType::kRsa2048, both), SignatureScheme::kRsaPkcs1Sha256);
}

TEST(MechanismChoice, CombinedMechanismIsUsedWhenTheRawOneIsMissing) {
  MechanismSet combined = with({{CKM_SHA256_RSA_PKCS, CKF_SIGN}, {CKM_ECDSA_SHA384, CKF_SIGN}});
  auto rsa = find_signing_mechanism(SignatureScheme::kRsaPkcs1Sha256, combined);
  ASSERT_TRUE(rsa);
  EXPECT_EQ(rsa->mechanism, static_cast<CK_MECHANISM_TYPE>(CKM_SHA256_RSA_PKCS));
  EXPECT_FALSE(rsa->hash_in_software);
  EXPECT_EQ(choose_signature_scheme(KeyType::kEcP384, combined), SignatureScheme::kEcdsaSha384);
}

TEST(MechanismChoice, EcdsaHashesInSoftwareWithCkmEcdsa) {
  MechanismSet ec = with({{CKM_ECDSA, CKF_SIGN}, {CKM_ECDSA_SHA256, CKF_SIGN}});
  auto mechanism = find_signing_mechanism(SignatureScheme::kEcdsaSha256, ec);
  ASSERT_TRUE(mechanism);
  EXPECT_EQ(mechanism->mechanism, static_cast<CK_MECHANISM_TYPE>(CKM_ECDSA));
  EXPECT_TRUE(mechanism->hash_in_software);
}

TEST(MechanismChoice, MechanismWithoutTheSignFlagDoesNotCount) {
  MechanismSet verify_only = with({{CKM_ECDSA, CKF_VERIFY}});
  EXPECT_EQ(error_of([&] { choose_signature_scheme(KeyType::kEcP256, verify_only); }),
            "the token cannot sign with ec-p256 keys: it does not offer CKM_ECDSA for signing");
}

TEST(MechanismChoice, TokenWithoutEddsaRefusesEd25519ClearlyAtInit) {
  MechanismSet no_eddsa = with({{CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR}, {CKM_ECDSA, CKF_SIGN}});
  EXPECT_EQ(error_of([&] { require_key_generation(KeyType::kEd25519, no_eddsa); }),
            "the token cannot generate ed25519 keys: it does not offer CKM_EC_EDWARDS_KEY_PAIR_GEN for key pair "
            "generation");
  EXPECT_EQ(error_of([&] { choose_signature_scheme(KeyType::kEd25519, no_eddsa); }),
            "the token cannot sign with ed25519 keys: it does not offer CKM_EDDSA for signing");
}

TEST(MechanismChoice, TokenCappedAt2048BitsRefusesRsa4096) {
  MechanismSet small = with({{CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR}}, 2048);
  EXPECT_EQ(error_of([&] { require_key_generation(KeyType::kRsa2048, small); }), "");
  EXPECT_EQ(error_of([&] { require_key_generation(KeyType::kRsa4096, small); }),
            "the token cannot generate rsa-4096 keys: its CKM_RSA_PKCS_KEY_PAIR_GEN generates keys of 1024 to 2048 "
            "bits, not 4096");
}

}  // namespace
}  // namespace custos::hsm
