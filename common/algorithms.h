// Key types and signature schemes, with their names as the command line
// and custos.toml spell them. The token layer makes and uses them;
// certificate building names them in algorithm identifiers. Neither needs
// the other to say which algorithm is meant.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace custos {

enum class KeyType { kEcP256, kEcP384, kRsa2048, kRsa3072, kRsa4096, kEd25519 };

std::optional<KeyType> parse_key_type(std::string_view name);
std::string_view key_type_name(KeyType type);
std::string key_type_names();  // "ec-p256, ec-p384, …" for messages
bool is_rsa(KeyType type);
bool is_ec(KeyType type);
unsigned rsa_bits(KeyType type);

// How a signature is computed. ECDSA signatures are returned as DER
// ECDSA-Sig-Value, RSA and Ed25519 as the raw signature.
enum class SignatureScheme {
  kEcdsaSha256,
  kEcdsaSha384,
  kEcdsaSha512,
  kRsaPkcs1Sha256,
  kRsaPkcs1Sha384,
  kRsaPkcs1Sha512,
  kRsaPssSha256,
  kRsaPssSha384,
  kRsaPssSha512,
  kEd25519,
};

std::optional<SignatureScheme> parse_signature_scheme(std::string_view name);
std::string_view signature_scheme_name(SignatureScheme scheme);
// The digest name OpenSSL knows ("SHA256"), or empty for Ed25519.
std::string_view signature_digest_name(SignatureScheme scheme);
bool scheme_fits_key(SignatureScheme scheme, KeyType type);

}  // namespace custos
