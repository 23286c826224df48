// Choosing PKCS#11 mechanisms from what the token reports
// (C_GetMechanismList / C_GetMechanismInfo), never from what a particular
// token is known to have. Pure functions of the mechanism set, so every
// token's shape can be tested without that token.
//
//   MechanismSet offered = token.mechanisms();
//   require_key_generation(KeyType::kRsa4096, offered);     // throws if absent
//   SignatureScheme scheme = choose_signature_scheme(KeyType::kRsa4096, offered);
#pragma once

#include <map>
#include <optional>

#include "hsm/keys.h"
#include "hsm/pkcs11.h"

namespace custos::hsm {

using MechanismSet = std::map<CK_MECHANISM_TYPE, CK_MECHANISM_INFO>;

bool offers(const MechanismSet& offered, CK_MECHANISM_TYPE mechanism, CK_FLAGS required_flags);

// How the token computes `scheme`: the mechanism, and whether the data is
// hashed in software first (CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS).
struct SigningMechanism {
  CK_MECHANISM_TYPE mechanism = 0;
  bool hash_in_software = false;
};

std::optional<SigningMechanism> find_signing_mechanism(SignatureScheme scheme, const MechanismSet& offered);

// Throws custos::Error naming the missing mechanism or key size when the
// token cannot generate a key of `type`.
void require_key_generation(KeyType type, const MechanismSet& offered);

// The scheme a CA with a key of `type` signs with on this token:
// ECDSA with the curve's hash, RSA PKCS#1 v1.5 with SHA-256, or RSA-PSS
// with SHA-256 when the token refuses PKCS#1 v1.5 (FIPS mode), Ed25519.
// Throws custos::Error when the token offers none.
SignatureScheme choose_signature_scheme(KeyType type, const MechanismSet& offered);

// "CKM_ECDSA" or "CKM_0x…" for messages.
std::string mechanism_name(CK_MECHANISM_TYPE mechanism);

}  // namespace custos::hsm
