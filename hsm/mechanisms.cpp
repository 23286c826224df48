#include "hsm/mechanisms.h"

#include <string>
#include <vector>

#include "common/error.h"
#include "hsm/error.h"

namespace custos::hsm {
namespace {

struct CombinedAndRaw {
  CK_MECHANISM_TYPE combined;  // hashes on the token
  CK_MECHANISM_TYPE raw;       // takes a digest hashed in software
};

CombinedAndRaw mechanisms_for(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256:
      return {CKM_ECDSA_SHA256, CKM_ECDSA};
    case SignatureScheme::kEcdsaSha384:
      return {CKM_ECDSA_SHA384, CKM_ECDSA};
    case SignatureScheme::kEcdsaSha512:
      return {CKM_ECDSA_SHA512, CKM_ECDSA};
    case SignatureScheme::kRsaPkcs1Sha256:
      return {CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS};
    case SignatureScheme::kRsaPkcs1Sha384:
      return {CKM_SHA384_RSA_PKCS, CKM_RSA_PKCS};
    case SignatureScheme::kRsaPkcs1Sha512:
      return {CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS};
    case SignatureScheme::kRsaPssSha256:
      return {CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS};
    case SignatureScheme::kRsaPssSha384:
      return {CKM_SHA384_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS};
    case SignatureScheme::kRsaPssSha512:
      return {CKM_SHA512_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS};
    case SignatureScheme::kEd25519:
      return {CKM_EDDSA, CKM_EDDSA};
  }
  return {CKM_VENDOR_DEFINED, CKM_VENDOR_DEFINED};
}

std::string key_size_problem(KeyType type, const CK_MECHANISM_INFO& info) {
  // Sizes are bits for RSA and EC by the standard; 0 means "not reported".
  unsigned bits = is_rsa(type) ? rsa_bits(type) : (type == KeyType::kEcP256 ? 256 : 384);
  if (info.ulMaxKeySize != 0 && (bits < info.ulMinKeySize || bits > info.ulMaxKeySize)) {
    return "its " + std::string(is_rsa(type) ? "CKM_RSA_PKCS_KEY_PAIR_GEN" : "CKM_EC_KEY_PAIR_GEN") +
           " generates keys of " + std::to_string(info.ulMinKeySize) + " to " + std::to_string(info.ulMaxKeySize) +
           " bits, not " + std::to_string(bits);
  }
  return {};
}

}  // namespace

bool offers(const MechanismSet& offered, CK_MECHANISM_TYPE mechanism, CK_FLAGS required_flags) {
  auto found = offered.find(mechanism);
  return found != offered.end() && (found->second.flags & required_flags) == required_flags;
}

std::optional<SigningMechanism> find_signing_mechanism(SignatureScheme scheme, const MechanismSet& offered) {
  CombinedAndRaw candidates = mechanisms_for(scheme);
  if (scheme == SignatureScheme::kEd25519) {
    if (offers(offered, CKM_EDDSA, CKF_SIGN)) return SigningMechanism{CKM_EDDSA, false};
    return std::nullopt;
  }
  // The raw mechanism first: hashing in software needs only the one
  // mechanism every token of the kind has, and keeps the data sent to the
  // token to a digest.
  if (offers(offered, candidates.raw, CKF_SIGN)) return SigningMechanism{candidates.raw, true};
  if (offers(offered, candidates.combined, CKF_SIGN)) return SigningMechanism{candidates.combined, false};
  return std::nullopt;
}

void require_key_generation(KeyType type, const MechanismSet& offered) {
  CK_MECHANISM_TYPE generator = is_rsa(type)  ? CKM_RSA_PKCS_KEY_PAIR_GEN
                                : is_ec(type) ? CKM_EC_KEY_PAIR_GEN
                                              : CKM_EC_EDWARDS_KEY_PAIR_GEN;
  if (!offers(offered, generator, CKF_GENERATE_KEY_PAIR)) {
    throw Error("the token cannot generate " + std::string(key_type_name(type)) + " keys: it does not offer " +
                mechanism_name(generator) + " for key pair generation");
  }
  if (type != KeyType::kEd25519) {
    std::string problem = key_size_problem(type, offered.at(generator));
    if (!problem.empty()) throw Error("the token cannot generate " + std::string(key_type_name(type)) + " keys: " + problem);
  }
}

SignatureScheme choose_signature_scheme(KeyType type, const MechanismSet& offered) {
  std::vector<SignatureScheme> preference;
  switch (type) {
    case KeyType::kEcP256:
      preference = {SignatureScheme::kEcdsaSha256};
      break;
    case KeyType::kEcP384:
      preference = {SignatureScheme::kEcdsaSha384};
      break;
    case KeyType::kEd25519:
      preference = {SignatureScheme::kEd25519};
      break;
    default:
      preference = {SignatureScheme::kRsaPkcs1Sha256, SignatureScheme::kRsaPssSha256};
      break;
  }
  for (SignatureScheme scheme : preference) {
    if (find_signing_mechanism(scheme, offered)) return scheme;
  }
  std::string wanted = type == KeyType::kEd25519 ? "CKM_EDDSA"
                       : is_ec(type)             ? "CKM_ECDSA"
                                                 : "CKM_RSA_PKCS or CKM_RSA_PKCS_PSS (or their SHA-256 forms)";
  throw Error("the token cannot sign with " + std::string(key_type_name(type)) + " keys: it does not offer " + wanted +
              " for signing");
}

std::string mechanism_name(CK_MECHANISM_TYPE mechanism) {
  switch (mechanism) {
#define CUSTOS_CKM(name) \
  case name:             \
    return #name;
    CUSTOS_CKM(CKM_RSA_PKCS_KEY_PAIR_GEN)
    CUSTOS_CKM(CKM_EC_KEY_PAIR_GEN)
    CUSTOS_CKM(CKM_EC_EDWARDS_KEY_PAIR_GEN)
    CUSTOS_CKM(CKM_GENERIC_SECRET_KEY_GEN)
    CUSTOS_CKM(CKM_ECDSA)
    CUSTOS_CKM(CKM_ECDSA_SHA256)
    CUSTOS_CKM(CKM_ECDSA_SHA384)
    CUSTOS_CKM(CKM_ECDSA_SHA512)
    CUSTOS_CKM(CKM_RSA_PKCS)
    CUSTOS_CKM(CKM_SHA256_RSA_PKCS)
    CUSTOS_CKM(CKM_SHA384_RSA_PKCS)
    CUSTOS_CKM(CKM_SHA512_RSA_PKCS)
    CUSTOS_CKM(CKM_RSA_PKCS_PSS)
    CUSTOS_CKM(CKM_SHA256_RSA_PKCS_PSS)
    CUSTOS_CKM(CKM_SHA384_RSA_PKCS_PSS)
    CUSTOS_CKM(CKM_SHA512_RSA_PKCS_PSS)
    CUSTOS_CKM(CKM_RSA_PKCS_OAEP)
    CUSTOS_CKM(CKM_EDDSA)
    CUSTOS_CKM(CKM_SHA256_HMAC)
#undef CUSTOS_CKM
    default:
      break;
  }
  return unnamed_code("CKM", mechanism);
}

}  // namespace custos::hsm
