// PKCS#10 requests that Custos itself makes: the subordinate CA's request
// to its parent, signed by the token key like everything else.
#pragma once

#include <span>
#include <vector>

#include "appliance/x509/certificate.h"

namespace custos::x509 {

// Builds a CertificationRequest for `subject` and the key `public_key`
// (DER SPKI), has `signer` sign it with `scheme`, and verifies the result
// (proof of possession) before returning it.
ossl::Ptr<X509_REQ> make_request(const X509_NAME* subject, std::span<const std::uint8_t> public_key,
                                 SignatureScheme scheme, const Signer& signer);

}  // namespace custos::x509
