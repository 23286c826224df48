// The AlgorithmIdentifier of each signature scheme, as it goes into a
// certificate, CRL or request.
#pragma once

#include <cstdint>
#include <span>

#include "common/openssl.h"
#include "common/algorithms.h"

namespace custos::x509 {

// ecdsa-with-SHAn (no parameters), shaNWithRSAEncryption (NULL),
// id-RSASSA-PSS with explicit RSASSA-PSS-params, or id-Ed25519.
ossl::Ptr<X509_ALGOR> signature_algorithm(SignatureScheme scheme);

// Whether `signature` over `data` verifies under `key` as the
// AlgorithmIdentifier signature_algorithm(scheme) says (for RSA-PSS: the
// digest's MGF1 and a salt as long as the digest). For what OpenSSL would
// otherwise have to decode whole first to verify: a CRL of a million
// entries.
bool signature_verifies(SignatureScheme scheme, EVP_PKEY* key, std::span<const std::uint8_t> data,
                        std::span<const std::uint8_t> signature);

}  // namespace custos::x509
