// The AlgorithmIdentifier of each signature scheme, as it goes into a
// certificate, CRL or request.
#pragma once

#include "common/openssl.h"
#include "common/algorithms.h"

namespace custos::x509 {

// ecdsa-with-SHAn (no parameters), shaNWithRSAEncryption (NULL),
// id-RSASSA-PSS with explicit RSASSA-PSS-params, or id-Ed25519.
ossl::Ptr<X509_ALGOR> signature_algorithm(SignatureScheme scheme);

}  // namespace custos::x509
