#include "common/openssl.h"

#include <openssl/err.h>

namespace custos::ossl {

std::string last_error() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(code, line, sizeof line);
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text.empty() ? "no detail from OpenSSL" : text;
}

std::vector<std::uint8_t> sha_digest(const char* digest_name, std::span<const std::uint8_t> data) {
  Ptr<EVP_MD_CTX> context(EVP_MD_CTX_new());
  std::vector<std::uint8_t> digest(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  if (!context || EVP_DigestInit_ex2(context.get(), EVP_get_digestbyname(digest_name), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest.data(), &length) != 1) {
    throw Error(std::string("computing ") + digest_name + ": " + last_error());
  }
  digest.resize(length);
  return digest;
}

}  // namespace custos::ossl
