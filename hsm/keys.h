// What the token layer says of keys: their purpose, the OAEP digest, and
// how a key on the token is named.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/algorithms.h"

namespace custos::hsm {

// The names of key types and signature schemes are common/algorithms.h;
// the token layer uses them under its own namespace too.
using custos::is_ec;
using custos::is_rsa;
using custos::key_type_name;
using custos::key_type_names;
using custos::KeyType;
using custos::parse_key_type;
using custos::parse_signature_scheme;
using custos::rsa_bits;
using custos::scheme_fits_key;
using custos::signature_digest_name;
using custos::signature_scheme_name;
using custos::SignatureScheme;

// What a key pair is for: signing (the CA key) or decryption (the key that
// unwraps the database key on tokens without generic secret keys).
enum class KeyPurpose { kSigning, kDecryption };

// The digest of RSA-OAEP (and of its MGF1).
enum class OaepDigest { kSha256, kSha1 };
std::optional<OaepDigest> parse_oaep_digest(std::string_view name);
std::string_view oaep_digest_name(OaepDigest digest);  // "sha256", "sha1"

// Names a key pair (or a secret key) on the token. The label is for people;
// label and id together select the objects.
struct KeyRef {
  std::string label;
  std::vector<std::uint8_t> id;
};

}  // namespace custos::hsm
