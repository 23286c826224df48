// Certificates formed in software and signed by the token, in the order a
// CA must follow: build the TBSCertificate from a specification, check it,
// hand exactly those bytes to the signer, assemble, re-parse, and verify the
// result under the issuer's public key before anyone sees it.
//
//   UnsignedCertificate unsigned_certificate = prepare_certificate(spec, issuer);
//   std::vector<std::uint8_t> der = std::move(unsigned_certificate).sign([&](auto tbs) {
//     return token.sign(key, issuer.scheme, tbs);
//   });
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "appliance/x509/csr.h"
#include "common/openssl.h"
#include "common/algorithms.h"

namespace custos::x509 {

// RFC 5280 KeyUsage bits.
enum KeyUsage : unsigned {
  kDigitalSignature = 1u << 0,
  kNonRepudiation = 1u << 1,
  kKeyEncipherment = 1u << 2,
  kDataEncipherment = 1u << 3,
  kKeyAgreement = 1u << 4,
  kKeyCertSign = 1u << 5,
  kCrlSign = 1u << 6,
};

// A certificatePolicies entry: the policy's OID and, optionally, where its
// certification practice statement is (an id-qt-cps qualifier).
struct CertificatePolicy {
  std::string oid;  // dotted
  std::string cps_uri;
  bool operator==(const CertificatePolicy&) const = default;
};

struct CertificateSpec {
  ossl::Ptr<X509_NAME> subject;
  std::vector<std::uint8_t> subject_public_key;  // DER SubjectPublicKeyInfo
  // subject_public_key decoded, when the caller holds it (borrowed; the
  // request's own, CheckedRequest::public_key_object): not decoded again.
  EVP_PKEY* subject_key = nullptr;
  std::vector<std::uint8_t> serial;              // big-endian, positive, non-zero
  std::time_t not_before = 0;
  std::time_t not_after = 0;
  bool ca = false;
  std::optional<int> path_length;  // only for CA certificates
  unsigned key_usage = 0;          // KeyUsage bits; critical when present
  std::vector<std::string> extended_key_usage;  // OpenSSL short names ("serverAuth") or dotted OIDs
  std::vector<SubjectAltName> san;              // critical when the subject is empty (RFC 5280 §4.2.1.6)
  std::vector<std::string> crl_urls;            // cRLDistributionPoints
  std::vector<std::string> ocsp_urls;           // authorityInfoAccess
  std::vector<std::string> ca_issuers_urls;     // authorityInfoAccess
  std::vector<CertificatePolicy> policies;      // certificatePolicies, non-critical
  // Added last, replacing an extension of the same OID (policy's
  // extensions_add, an administrator's set-ext), then removed by OID.
  // basicConstraints, SKI and AKI are the engine's: neither may name them.
  std::vector<RequestedExtension> extra_extensions;
  std::vector<std::string> removed_extensions;
};

struct IssuerSpec {
  const X509_NAME* name = nullptr;              // the subject itself for a self-signed certificate
  std::vector<std::uint8_t> public_key;         // DER SubjectPublicKeyInfo
  std::vector<std::uint8_t> key_identifier;     // the issuer's SKI, for the AKI
  SignatureScheme scheme = SignatureScheme::kEcdsaSha256;
  // The issuer certificate's nameConstraints, checked against the
  // certificate before it is signed; null when it has none.
  const NAME_CONSTRAINTS* name_constraints = nullptr;
  // `public_key` decoded, when the caller keeps it so (the engine does, once
  // for all its certificates: decoding a key is the dearest step of an
  // issuance); decoded from `public_key` when null.
  EVP_PKEY* key = nullptr;
};

// Signs the TBS bytes it is given, returning the signature in the form of
// the scheme (DER ECDSA-Sig-Value, raw RSA or Ed25519).
using Signer = std::function<std::vector<std::uint8_t>(std::span<const std::uint8_t> to_be_signed)>;

// A TBSCertificate that passed the checks and waits for its signature. The
// only way to a signed certificate is `sign`, so nothing unchecked is ever
// signed.
class UnsignedCertificate {
 public:
  std::span<const std::uint8_t> to_be_signed() const { return tbs_; }
  std::string serial() const;  // upper-case hex, as serial_hex writes it

  // Signs the checked TBS, assembles the certificate and verifies the
  // signature under the issuer's key. Throws custos::Error if the signature
  // does not verify or the certificate's TBS is not the checked one.
  // Returns the certificate's DER: the X509 it was built in holds the
  // subject's key as bytes only (prepare_certificate), so what needs an
  // object parses the DER (parse_certificate).
  std::vector<std::uint8_t> sign(const Signer& signer) &&;

 private:
  friend UnsignedCertificate prepare_certificate(const CertificateSpec&, const IssuerSpec&);
  UnsignedCertificate(ossl::Ptr<X509> certificate, ossl::Ptr<X509_ALGOR> algorithm, std::vector<std::uint8_t> tbs,
                      ossl::Ptr<EVP_PKEY> issuer_key);

  ossl::Ptr<X509> certificate_;
  ossl::Ptr<X509_ALGOR> algorithm_;
  std::vector<std::uint8_t> tbs_;
  ossl::Ptr<EVP_PKEY> issuer_key_;
};

// Builds and checks the TBSCertificate (certificate_rules.h, then the
// linter, lint.h, which throws LintRefusal): version 3, serial, issuer, subject,
// validity, the subject's key, basicConstraints (critical), keyUsage
// (critical), EKU, SAN, SKI, AKI, CDP, AIA, then the extra extensions and
// removals. Throws custos::Error naming what is wrong: a spec that breaks
// RFC 5280, a non-CA certificate that could sign certificates, a name the
// issuer's constraints exclude.
UnsignedCertificate prepare_certificate(const CertificateSpec& spec, const IssuerSpec& issuer);

// True for an OID in its one dotted spelling ("2.5.29.19", not
// "2.5.29.019" or a name).
bool is_canonical_oid(const std::string& text);

// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING.
std::vector<std::uint8_t> key_identifier(std::span<const std::uint8_t> subject_public_key_info);

// The certificate's SKI if it has one, else the method-1 identifier of its key.
std::vector<std::uint8_t> subject_key_identifier(X509* certificate);

ossl::Ptr<EVP_PKEY> parse_public_key(std::span<const std::uint8_t> subject_public_key_info);
std::vector<std::uint8_t> certificate_der(const X509* certificate);
// One DER certificate, all of `der`; throws custos::Error naming `what`.
ossl::Ptr<X509> parse_certificate(std::span<const std::uint8_t> der, const std::string& what = "the certificate");
std::string sha256_fingerprint(const X509* certificate);  // lower-case hex of the DER's SHA-256
std::string sha256_fingerprint(std::span<const std::uint8_t> certificate_der);  // the same, from the bytes
std::string serial_hex(const X509* certificate);          // upper-case hex, as OpenSSL prints it
// The serial of a DER certificate, read without decoding the rest (d2i_X509
// decodes the public key, which costs more than the lookup it serves);
// throws Error when the bytes do not open like a certificate.
std::string certificate_serial_hex(std::span<const std::uint8_t> certificate_der);

// The notAfter of a certificate valid for `days` days from `not_before`.
// RFC 5280 §4.1.2.5 and BR 6.3.2 count both ends of the validity period,
// so N days end one second before notBefore + N × 86400.
std::time_t validity_end(std::time_t not_before, std::int64_t days);

std::time_t not_before_time(const X509* certificate);
std::time_t not_after_time(const X509* certificate);
// True once less than a third of the certificate's validity is left at
// `now`: the moment Custos renews a certificate of its own (the front end's
// TLS certificate, the delegated OCSP signer's).
bool due_for_renewal(const X509* certificate, std::time_t now);
std::string serial_hex(const ASN1_INTEGER* serial);       // the same, for a serial outside a certificate

}  // namespace custos::x509
