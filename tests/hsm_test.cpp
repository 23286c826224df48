// The token layer against a real SoftHSMv2 token: keys are generated on the
// token and never leave it, every key type signs and OpenSSL verifies the
// signature under the exported public key, sessions survive a reset.
#include <openssl/rsa.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "common/openssl.h"
#include "hsm/error.h"
#include "hsm/mechanisms.h"
#include "hsm/quirks.h"
#include "hsm/token.h"
#include "tests/support/test_token.h"
#include "tests/support/verify.h"

namespace custos::hsm {
namespace {

using testing::TestToken;

constexpr char kPin[] = "1234";

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestToken::instance().create_token("hsm-test", kPin);
    token_ = std::make_unique<Token>(Module::load(TestToken::module_path()), "hsm-test", pin(kPin));
  }

  // The key types of `wanted` this token can make (a TPM makes no
  // Ed25519 key, for one); init refuses the others, which its own tests
  // check.
  std::vector<KeyType> generated(std::initializer_list<KeyType> wanted) const {
    std::vector<KeyType> types;
    for (KeyType type : wanted) {
      try {
        require_key_generation(type, token_->mechanisms());
        types.push_back(type);
      } catch (const Error&) {
      }
    }
    return types;
  }
  bool keeps_hmac_keys() const {
    return offers(token_->mechanisms(), CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE) &&
           offers(token_->mechanisms(), CKM_SHA256_HMAC, CKF_SIGN);
  }

  static SecureBuffer pin(const std::string& text) {
    return SecureBuffer::copy_of(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }

  std::unique_ptr<Token> token_;
  const std::vector<std::uint8_t> message_{'t', 'b', 's', ' ', 'b', 'y', 't', 'e', 's'};
};

struct SchemeCase {
  KeyType type;
  SignatureScheme scheme;
};

void PrintTo(const SchemeCase& c, std::ostream* out) {
  *out << key_type_name(c.type) << " " << signature_scheme_name(c.scheme);
}

class SigningTest : public TokenTest, public ::testing::WithParamInterface<SchemeCase> {};

TEST_P(SigningTest, SignatureVerifiesWithOpenSslUnderTheExportedKey) {
  const SchemeCase& c = GetParam();
  KeyRef key = token_->generate_key_pair(c.type, KeyPurpose::kSigning, "ca-key");
  std::vector<std::uint8_t> spki = token_->public_key_info(key);
  std::vector<std::uint8_t> signature = token_->sign(key, c.scheme, message_);

  std::string digest(signature_digest_name(c.scheme));
  bool pss = signature_scheme_name(c.scheme).starts_with("rsa-pss");
  EXPECT_TRUE(testing::verify_signature(spki, digest, pss, message_, signature));

  std::vector<std::uint8_t> tampered = message_;
  tampered[0] ^= 1;
  EXPECT_FALSE(testing::verify_signature(spki, digest, pss, tampered, signature));
}

INSTANTIATE_TEST_SUITE_P(
    EveryKeyType, SigningTest,
    ::testing::Values(SchemeCase{KeyType::kEcP256, SignatureScheme::kEcdsaSha256},
                      SchemeCase{KeyType::kEcP256, SignatureScheme::kEcdsaSha512},
                      SchemeCase{KeyType::kEcP384, SignatureScheme::kEcdsaSha384},
                      SchemeCase{KeyType::kRsa2048, SignatureScheme::kRsaPkcs1Sha256},
                      SchemeCase{KeyType::kRsa2048, SignatureScheme::kRsaPkcs1Sha384},
                      SchemeCase{KeyType::kRsa2048, SignatureScheme::kRsaPkcs1Sha512},
                      SchemeCase{KeyType::kRsa2048, SignatureScheme::kRsaPssSha256},
                      SchemeCase{KeyType::kRsa2048, SignatureScheme::kRsaPssSha384},
                      SchemeCase{KeyType::kRsa2048, SignatureScheme::kRsaPssSha512},
                      SchemeCase{KeyType::kRsa3072, SignatureScheme::kRsaPkcs1Sha256},
                      SchemeCase{KeyType::kRsa4096, SignatureScheme::kRsaPssSha256},
                      SchemeCase{KeyType::kEd25519, SignatureScheme::kEd25519}),
    [](const ::testing::TestParamInfo<SchemeCase>& parameter) {
      std::string name = std::string(key_type_name(parameter.param.type)) + "_" +
                         std::string(signature_scheme_name(parameter.param.scheme));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST_F(TokenTest, PrivateKeysAreSensitiveAndNeverRevealTheirValue) {
  for (KeyType type : generated({KeyType::kEcP256, KeyType::kRsa2048, KeyType::kEd25519})) {
    KeyRef key = token_->generate_key_pair(type, KeyPurpose::kSigning, "key-" + std::string(key_type_name(type)));
    EXPECT_EQ(token_->read_attribute(key, CKO_PRIVATE_KEY, CKA_SENSITIVE), std::vector<std::uint8_t>{CK_TRUE});
    EXPECT_EQ(token_->read_attribute(key, CKO_PRIVATE_KEY, CKA_EXTRACTABLE), std::vector<std::uint8_t>{CK_FALSE});
    EXPECT_EQ(token_->read_attribute(key, CKO_PRIVATE_KEY, CKA_TOKEN), std::vector<std::uint8_t>{CK_TRUE});
    EXPECT_EQ(token_->read_attribute(key, CKO_PRIVATE_KEY, CKA_PRIVATE), std::vector<std::uint8_t>{CK_TRUE});
    CK_ATTRIBUTE_TYPE secret_part = type == KeyType::kRsa2048 ? CKA_PRIVATE_EXPONENT : CKA_VALUE;
    EXPECT_EQ(token_->read_attribute(key, CKO_PRIVATE_KEY, secret_part), std::nullopt);
  }
}

// Every object Custos makes may do its one job and nothing else, whatever
// the token's defaults (SoftHSM's public keys would also wrap and encrypt,
// its secret keys encrypt, decrypt, wrap and unwrap). A usage the quirks
// table says the token decides itself (tpm2-pkcs11's keys both sign and
// decrypt) is the token's.
TEST_F(TokenTest, EveryKeyMayDoItsOneJobAndNothingElse) {
  const std::vector<std::uint8_t> yes{CK_TRUE};
  const std::vector<std::uint8_t> no{CK_FALSE};
  const std::vector<CK_ATTRIBUTE_TYPE>& decided = quirks_for(token_->description()).usages_it_decides;
  auto expect_only = [&](const KeyRef& key, CK_OBJECT_CLASS object_class, CK_ATTRIBUTE_TYPE allowed) {
    for (CK_ATTRIBUTE_TYPE usage : {CKA_SIGN, CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE,
                                    CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER}) {
      std::optional<std::vector<std::uint8_t>> value = token_->read_attribute(key, object_class, usage);
      // An attribute a class does not have (CKA_SIGN on a public key) reads as absent.
      if (!value) continue;
      if (usage != allowed && std::find(decided.begin(), decided.end(), usage) != decided.end()) continue;
      EXPECT_EQ(*value, usage == allowed ? yes : no)
          << key.label << " class " << object_class << " attribute 0x" << std::hex << usage;
    }
    EXPECT_EQ(token_->read_attribute(key, object_class, CKA_MODIFIABLE), no) << key.label << " class " << object_class;
  };
  for (KeyType type : generated({KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kEd25519})) {
    KeyRef key = token_->generate_key_pair(type, KeyPurpose::kSigning, "ca-" + std::string(key_type_name(type)));
    expect_only(key, CKO_PRIVATE_KEY, CKA_SIGN);
    expect_only(key, CKO_PUBLIC_KEY, CKA_VERIFY);
    EXPECT_EQ(token_->read_attribute(key, CKO_PRIVATE_KEY, CKA_COPYABLE), no) << key.label;
  }
  KeyRef wrapping = token_->generate_key_pair(KeyType::kRsa2048, KeyPurpose::kDecryption, "db-wrap");
  expect_only(wrapping, CKO_PRIVATE_KEY, CKA_DECRYPT);
  expect_only(wrapping, CKO_PUBLIC_KEY, CKA_ENCRYPT);
  if (keeps_hmac_keys()) {
    KeyRef secret = token_->generate_secret_key("db-secret");
    expect_only(secret, CKO_SECRET_KEY, CKA_SIGN);
    EXPECT_EQ(token_->read_attribute(secret, CKO_SECRET_KEY, CKA_COPYABLE), no);
  }
}

TEST_F(TokenTest, SecretKeyIsSensitiveAndItsHmacIsStable) {
  if (!keeps_hmac_keys()) {
    // A token without the mechanisms (a TPM) is told so, by name.
    try {
      token_->generate_secret_key("db-secret");
      ADD_FAILURE() << "a token without CKM_GENERIC_SECRET_KEY_GEN made a secret key";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("CKM_GENERIC_SECRET_KEY_GEN"), std::string::npos) << error.what();
    }
    return;
  }
  KeyRef secret = token_->generate_secret_key("db-secret");
  EXPECT_EQ(token_->read_attribute(secret, CKO_SECRET_KEY, CKA_VALUE), std::nullopt);
  EXPECT_EQ(token_->read_attribute(secret, CKO_SECRET_KEY, CKA_EXTRACTABLE), std::vector<std::uint8_t>{CK_FALSE});
  SecureBuffer first = token_->hmac_sha256(secret, message_);
  SecureBuffer second = token_->hmac_sha256(secret, message_);
  EXPECT_EQ(first.size(), 32u);
  EXPECT_TRUE(first.equals(second.bytes()));
  std::vector<std::uint8_t> other = message_;
  other.push_back('!');
  EXPECT_FALSE(first.equals(token_->hmac_sha256(secret, other).bytes()));
}

TEST_F(TokenTest, RsaOaepDecryptsWhatItsPublicKeyEncrypted) {
  KeyRef key = token_->generate_key_pair(KeyType::kRsa2048, KeyPurpose::kDecryption, "db-wrap");
  std::vector<std::uint8_t> spki = token_->public_key_info(key);
  const unsigned char* cursor = spki.data();
  ossl::Ptr<EVP_PKEY> public_key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(spki.size())));
  ossl::Ptr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new(public_key.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_encrypt_init(context.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING), 1);
  // SoftHSMv2 decrypts OAEP with SHA-1 only; the digest is a parameter
  // because other tokens accept (or demand) SHA-256.
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), EVP_sha1()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), EVP_sha1()), 1);
  std::vector<std::uint8_t> ciphertext(256);
  std::size_t length = ciphertext.size();
  ASSERT_EQ(EVP_PKEY_encrypt(context.get(), ciphertext.data(), &length, message_.data(), message_.size()), 1);
  ciphertext.resize(length);

  SecureBuffer plaintext = token_->rsa_oaep_decrypt(key, OaepDigest::kSha1, ciphertext);
  EXPECT_TRUE(plaintext.equals(message_));
}

TEST_F(TokenTest, RefusesToOverwriteAKeyWithTheSameLabel) {
  token_->generate_key_pair(KeyType::kEcP256, KeyPurpose::kSigning, "taken");
  try {
    token_->generate_key_pair(KeyType::kEcP384, KeyPurpose::kSigning, "taken");
    FAIL() << "a second key with the same label was generated";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("already holds a key labelled 'taken'"), std::string::npos)
        << error.what();
  }
}

TEST_F(TokenTest, FourThreadsSignConcurrentlyAndEverySignatureVerifies) {
  KeyRef key = token_->generate_key_pair(KeyType::kEcP256, KeyPurpose::kSigning, "concurrent");
  std::vector<std::uint8_t> spki = token_->public_key_info(key);
  std::atomic<int> verified{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::vector<std::uint8_t> data{static_cast<std::uint8_t>(t), static_cast<std::uint8_t>(i)};
        std::vector<std::uint8_t> signature = token_->sign(key, SignatureScheme::kEcdsaSha256, data);
        (testing::verify_signature(spki, "SHA256", false, data, signature) ? verified : failed)++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(verified.load(), 200);
  EXPECT_EQ(failed.load(), 0);
}

// Not a TokenTest: the login state belongs to the process, so the wrong PIN
// must be the first login attempt this process makes.
TEST(TokenLogin, WrongPinFailsNamingTheCallAndTheCode) {
  TestToken::instance().create_token("pin-test", kPin);
  try {
    Token wrong(Module::load(TestToken::module_path()), "pin-test",
                SecureBuffer::copy_of(std::span(reinterpret_cast<const std::uint8_t*>("0000"), 4)));
    FAIL() << "logged in with a wrong PIN";
  } catch (const Pkcs11Error& error) {
    EXPECT_STREQ(error.what(), "C_Login: CKR_PIN_INCORRECT");
    EXPECT_EQ(error.rv(), static_cast<CK_RV>(CKR_PIN_INCORRECT));
  }
}

TEST_F(TokenTest, MissingTokenNamesTheTokensPresent) {
  try {
    Token missing(Module::load(TestToken::module_path()), "no-such-token", pin(kPin));
    FAIL() << "opened a token that does not exist";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("no token labelled 'no-such-token'"), std::string::npos) << message;
    EXPECT_NE(message.find("'hsm-test'"), std::string::npos) << message;
  }
}

TEST_F(TokenTest, MissingModuleIsAClearError) {
  EXPECT_THROW(
      {
        try {
          Module::load("/nonexistent/libpkcs11.so");
        } catch (const Error& error) {
          EXPECT_STREQ(error.what(), "PKCS#11 module /nonexistent/libpkcs11.so does not exist");
          throw;
        }
      },
      Error);
}

TEST_F(TokenTest, ClosedSessionsAreReopenedAndTheSignatureRetried) {
  KeyRef key = token_->generate_key_pair(KeyType::kEcP256, KeyPurpose::kSigning, "resilient");
  std::vector<std::uint8_t> spki = token_->public_key_info(key);
  // Close every pooled session behind the Token's back, as a token reset would.
  for (CK_SESSION_HANDLE handle : token_->session_handles_for_testing()) {
    ASSERT_EQ(token_->module().functions()->C_CloseSession(handle), static_cast<CK_RV>(CKR_OK));
  }
  std::vector<std::uint8_t> signature = token_->sign(key, SignatureScheme::kEcdsaSha256, message_);
  EXPECT_TRUE(testing::verify_signature(spki, "SHA256", false, message_, signature));
}

TEST_F(TokenTest, LostLoginIsRestoredAndTheSignatureRetried) {
  KeyRef key = token_->generate_key_pair(KeyType::kEcP256, KeyPurpose::kSigning, "relogin");
  std::vector<std::uint8_t> spki = token_->public_key_info(key);
  // Logging out ends the login of every session of the application.
  ASSERT_EQ(token_->module().functions()->C_Logout(token_->session_handles_for_testing().front()),
            static_cast<CK_RV>(CKR_OK));
  std::vector<std::uint8_t> signature = token_->sign(key, SignatureScheme::kEcdsaSha256, message_);
  EXPECT_TRUE(testing::verify_signature(spki, "SHA256", false, message_, signature));
}

TEST_F(TokenTest, RandomBytesComeFromTheToken) {
  std::vector<std::uint8_t> first = token_->random_bytes(32);
  std::vector<std::uint8_t> second = token_->random_bytes(32);
  EXPECT_EQ(first.size(), 32u);
  EXPECT_NE(first, second);
}

}  // namespace
}  // namespace custos::hsm
