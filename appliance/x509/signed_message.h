// A message the CA key signs outside X.509: the audit log's checkpoints.
// The token signs the DER OCTET STRING that wraps the message — never a
// SEQUENCE, so no such signature passes for a certificate, CRL or OCSP
// response — and each message begins with a label naming its purpose.
//
//   auto tbs = message_to_be_signed(message);
//   auto signature = token.sign(key, scheme, tbs);
//   message_signature_holds(ca_key, scheme, message, signature);  // true
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/openssl.h"
#include "common/algorithms.h"

namespace custos::x509 {

std::vector<std::uint8_t> message_to_be_signed(std::span<const std::uint8_t> message);

// Verified as a certificate's signature is: the scheme's
// AlgorithmIdentifier (RSA-PSS parameters included) and the public key.
bool message_signature_holds(EVP_PKEY* key, SignatureScheme scheme, std::span<const std::uint8_t> message,
                             std::span<const std::uint8_t> signature);

}  // namespace custos::x509
