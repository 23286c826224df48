// Certificate requests as clients make them, built with OpenSSL and the
// requesters' own software keys (never a CA's), for tests that feed the
// engine or the request checks.
#pragma once

#include <string>
#include <vector>

#include "common/openssl.h"

namespace custos::testing {

ossl::Ptr<EVP_PKEY> ec_key(const char* curve);           // "P-256", "secp256k1", …
ossl::Ptr<EVP_PKEY> edwards_key(const char* algorithm);  // "ED25519", "ED448", "X25519"
ossl::Ptr<EVP_PKEY> rsa_key(unsigned bits, unsigned public_exponent);

// A subjectAltName in OpenSSL's configuration syntax ("DNS:a.example, IP:192.0.2.1").
ossl::Ptr<X509_EXTENSION> san_extension(const char* names);

// A request for `key` with `subject` and the `extensions` in an
// extensionRequest attribute, signed by `signer` (the request's own key
// when null) with SHA-256, or with plain Ed25519/Ed448. DER.
std::vector<std::uint8_t> make_request(EVP_PKEY* key, const X509_NAME* subject,
                                       const std::vector<X509_EXTENSION*>& extensions = {},
                                       EVP_PKEY* signer = nullptr);

// PEM armour around DER under `label`.
std::string pem(const char* label, const std::vector<std::uint8_t>& der);

// The common case: a PEM request for CN=`subject` (none when empty) with
// the subjectAltName `san` (OpenSSL syntax; none when null).
std::string csr_pem(EVP_PKEY* key, const std::string& subject, const char* san = nullptr);

}  // namespace custos::testing
