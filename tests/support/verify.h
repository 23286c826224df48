// Independent verification of signatures with OpenSSL, for tests: the
// signature the token made must verify under the exported public key.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace custos::testing {

// Verifies `signature` over `data` with the DER SubjectPublicKeyInfo `spki`.
// `digest` is "SHA256"/"SHA384"/"SHA512", or "" for Ed25519; `pss` selects
// RSA-PSS with MGF1 of the same digest and a salt of the digest's length.
bool verify_signature(const std::vector<std::uint8_t>& spki, const std::string& digest, bool pss,
                      std::span<const std::uint8_t> data, const std::vector<std::uint8_t>& signature);

}  // namespace custos::testing
