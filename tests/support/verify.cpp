#include "tests/support/verify.h"

#include <openssl/rsa.h>

#include "common/openssl.h"

namespace custos::testing {

bool verify_signature(const std::vector<std::uint8_t>& spki, const std::string& digest, bool pss,
                      std::span<const std::uint8_t> data, const std::vector<std::uint8_t>& signature) {
  const unsigned char* cursor = spki.data();
  ossl::Ptr<EVP_PKEY> key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(spki.size())));
  if (!key) return false;
  ossl::Ptr<EVP_MD_CTX> context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;
  if (EVP_DigestVerifyInit_ex(context.get(), &key_context, digest.empty() ? nullptr : digest.c_str(), nullptr,
                              nullptr, key.get(), nullptr) != 1) {
    return false;
  }
  if (pss && (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) != 1 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return false;
  }
  return EVP_DigestVerify(context.get(), signature.data(), signature.size(), data.data(), data.size()) == 1;
}

}  // namespace custos::testing
