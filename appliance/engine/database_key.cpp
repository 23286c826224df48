#include "appliance/engine/database_key.h"

#include <openssl/rsa.h>

#include "common/encoding.h"
#include "common/error.h"
#include "common/openssl.h"
#include "hsm/error.h"
#include "hsm/quirks.h"

namespace custos::engine {
namespace {

constexpr std::size_t kDatabaseKeyBytes = 32;

// Binds the key to this purpose and this database: the same secret key
// could never yield another database's key.
std::vector<std::uint8_t> hmac_input(const std::string& database_id) {
  std::string input = std::string("custos database key v1") + '\0' + database_id;
  return {input.begin(), input.end()};
}

std::vector<std::uint8_t> oaep_encrypt(std::span<const std::uint8_t> public_key_info, hsm::OaepDigest digest,
                                       const SecureBuffer& plaintext) {
  const unsigned char* cursor = public_key_info.data();
  ossl::Ptr<EVP_PKEY> key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(public_key_info.size())));
  ossl::Ptr<EVP_PKEY_CTX> context(key ? EVP_PKEY_CTX_new(key.get(), nullptr) : nullptr);
  const EVP_MD* md = digest == hsm::OaepDigest::kSha256 ? EVP_sha256() : EVP_sha1();
  std::size_t length = 0;
  if (!context || EVP_PKEY_encrypt_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), md) != 1 ||
      EVP_PKEY_encrypt(context.get(), nullptr, &length, plaintext.data(), plaintext.size()) != 1) {
    throw Error("encrypting the database key to the token's RSA key: " + ossl::last_error());
  }
  std::vector<std::uint8_t> ciphertext(length);
  if (EVP_PKEY_encrypt(context.get(), ciphertext.data(), &length, plaintext.data(), plaintext.size()) != 1) {
    throw Error("encrypting the database key to the token's RSA key: " + ossl::last_error());
  }
  ciphertext.resize(length);
  return ciphertext;
}

ProvisionedKey provision_wrapped(hsm::Token& token, DatabaseSection section, std::vector<hsm::KeyRef>& created) {
  hsm::KeyType type = hsm::KeyType::kRsa3072;
  try {
    hsm::require_key_generation(type, token.mechanisms());
  } catch (const Error&) {
    type = hsm::KeyType::kRsa2048;
  }
  section.key = token.generate_key_pair(type, hsm::KeyPurpose::kDecryption, section.key.label);
  created.push_back(section.key);
  std::vector<std::uint8_t> public_key = token.public_key_info(section.key);

  SecureBuffer key(kDatabaseKeyBytes);
  token.generate_random(std::span(key.data(), key.size()));
  // Tokens differ in the OAEP digests they accept: the quirks table says
  // which to try, in order (SHA-256, then SHA-1, still sound for OAEP,
  // unless the token's row says otherwise).
  const std::vector<hsm::OaepDigest>& digests = hsm::quirks_for(token.description()).oaep_digests;
  for (std::size_t index = 0; index < digests.size(); ++index) {
    hsm::OaepDigest digest = digests[index];
    std::vector<std::uint8_t> wrapped = oaep_encrypt(public_key, digest, key);
    try {
      SecureBuffer unwrapped = token.rsa_oaep_decrypt(section.key, digest, wrapped);
      if (!unwrapped.equals(key.bytes())) throw Error("the token's RSA-OAEP decryption returned another key");
    } catch (const hsm::Pkcs11Error& error) {
      bool digest_refused = error.rv() == CKR_ARGUMENTS_BAD || error.rv() == CKR_MECHANISM_PARAM_INVALID;
      if (digest_refused && index + 1 < digests.size()) continue;
      throw;
    }
    section.wrapped_key = to_base64(wrapped);
    section.oaep_digest = digest;
    return {std::move(section), std::move(key)};
  }
  throw Error("the token decrypts RSA-OAEP with none of the digests tried (hsm/quirks.h oaep_digests)");
}

}  // namespace

DatabaseKeyMethod choose_database_key_method(const hsm::MechanismSet& offered) {
  if (hsm::offers(offered, CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE) && hsm::offers(offered, CKM_SHA256_HMAC, CKF_SIGN)) {
    return DatabaseKeyMethod::kHmacSha256;
  }
  if (hsm::offers(offered, CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) &&
      hsm::offers(offered, CKM_RSA_PKCS_OAEP, CKF_DECRYPT)) {
    return DatabaseKeyMethod::kRsaOaep;
  }
  throw Error(
      "the token can keep no database key: it offers neither CKM_GENERIC_SECRET_KEY_GEN with CKM_SHA256_HMAC nor "
      "CKM_RSA_PKCS_KEY_PAIR_GEN with CKM_RSA_PKCS_OAEP");
}

ProvisionedKey provision_database_key(hsm::Token& token, DatabaseKeyMethod method, const std::string& database_id,
                                      const std::string& label, std::vector<hsm::KeyRef>& created) {
  DatabaseSection section;
  section.id = database_id;
  section.key_method = method;
  section.key.label = label;
  if (method == DatabaseKeyMethod::kRsaOaep) return provision_wrapped(token, std::move(section), created);

  section.key = token.generate_secret_key(label);
  created.push_back(section.key);
  SecureBuffer key = token.hmac_sha256(section.key, hmac_input(database_id));
  return {std::move(section), std::move(key)};
}

SecureBuffer derive_database_key(hsm::Token& token, const DatabaseSection& section) {
  try {
    if (section.key_method == DatabaseKeyMethod::kHmacSha256) {
      return token.hmac_sha256(section.key, hmac_input(section.id));
    }
    SecureBuffer key = token.rsa_oaep_decrypt(section.key, section.oaep_digest, from_base64(section.wrapped_key));
    if (key.size() != kDatabaseKeyBytes) throw Error("the unwrapped key is not 32 bytes");
    return key;
  } catch (const Error&) {
    rethrow_with_context("deriving the database key on the token");
  }
}

}  // namespace custos::engine
