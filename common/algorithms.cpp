#include "common/algorithms.h"

#include <array>
#include <utility>

namespace custos {
namespace {

constexpr std::array<std::pair<KeyType, std::string_view>, 6> kKeyTypeNames{{
    {KeyType::kEcP256, "ec-p256"},
    {KeyType::kEcP384, "ec-p384"},
    {KeyType::kRsa2048, "rsa-2048"},
    {KeyType::kRsa3072, "rsa-3072"},
    {KeyType::kRsa4096, "rsa-4096"},
    {KeyType::kEd25519, "ed25519"},
}};

constexpr std::array<std::pair<SignatureScheme, std::string_view>, 10> kSchemeNames{{
    {SignatureScheme::kEcdsaSha256, "ecdsa-sha256"},
    {SignatureScheme::kEcdsaSha384, "ecdsa-sha384"},
    {SignatureScheme::kEcdsaSha512, "ecdsa-sha512"},
    {SignatureScheme::kRsaPkcs1Sha256, "rsa-pkcs1-sha256"},
    {SignatureScheme::kRsaPkcs1Sha384, "rsa-pkcs1-sha384"},
    {SignatureScheme::kRsaPkcs1Sha512, "rsa-pkcs1-sha512"},
    {SignatureScheme::kRsaPssSha256, "rsa-pss-sha256"},
    {SignatureScheme::kRsaPssSha384, "rsa-pss-sha384"},
    {SignatureScheme::kRsaPssSha512, "rsa-pss-sha512"},
    {SignatureScheme::kEd25519, "ed25519"},
}};

template <typename Enum, std::size_t N>
std::optional<Enum> find_by_name(const std::array<std::pair<Enum, std::string_view>, N>& table,
                                 std::string_view name) {
  for (const auto& [value, text] : table) {
    if (text == name) return value;
  }
  return std::nullopt;
}

template <typename Enum, std::size_t N>
std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum value) {
  for (const auto& [candidate, text] : table) {
    if (candidate == value) return text;
  }
  return "unknown";
}

}  // namespace

std::optional<KeyType> parse_key_type(std::string_view name) { return find_by_name(kKeyTypeNames, name); }
std::string_view key_type_name(KeyType type) { return name_of(kKeyTypeNames, type); }

std::string key_type_names() {
  std::string names;
  for (const auto& entry : kKeyTypeNames) {
    if (!names.empty()) names += ", ";
    names += entry.second;
  }
  return names;
}

bool is_rsa(KeyType type) {
  return type == KeyType::kRsa2048 || type == KeyType::kRsa3072 || type == KeyType::kRsa4096;
}
bool is_ec(KeyType type) { return type == KeyType::kEcP256 || type == KeyType::kEcP384; }

unsigned rsa_bits(KeyType type) {
  switch (type) {
    case KeyType::kRsa2048:
      return 2048;
    case KeyType::kRsa3072:
      return 3072;
    case KeyType::kRsa4096:
      return 4096;
    default:
      return 0;
  }
}

std::optional<SignatureScheme> parse_signature_scheme(std::string_view name) {
  return find_by_name(kSchemeNames, name);
}
std::string_view signature_scheme_name(SignatureScheme scheme) { return name_of(kSchemeNames, scheme); }

std::string_view signature_digest_name(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256:
    case SignatureScheme::kRsaPkcs1Sha256:
    case SignatureScheme::kRsaPssSha256:
      return "SHA256";
    case SignatureScheme::kEcdsaSha384:
    case SignatureScheme::kRsaPkcs1Sha384:
    case SignatureScheme::kRsaPssSha384:
      return "SHA384";
    case SignatureScheme::kEcdsaSha512:
    case SignatureScheme::kRsaPkcs1Sha512:
    case SignatureScheme::kRsaPssSha512:
      return "SHA512";
    case SignatureScheme::kEd25519:
      return "";
  }
  return "";
}

bool scheme_fits_key(SignatureScheme scheme, KeyType type) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256:
    case SignatureScheme::kEcdsaSha384:
    case SignatureScheme::kEcdsaSha512:
      return is_ec(type);
    case SignatureScheme::kEd25519:
      return type == KeyType::kEd25519;
    default:
      return is_rsa(type);
  }
}

}  // namespace custos
