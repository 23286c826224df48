// Certificate revocation lists formed in software and signed by the token,
// in the order certificate.h follows: check the specification, build the
// TBSCertList, hand exactly those bytes to the signer, assemble, re-parse,
// and verify the result under the issuer's public key before anyone sees it.
//
//   CrlSpec spec{X509_get_subject_name(ca), ca_public_key, subject_key_identifier(ca), scheme, 42, now,
//                now + 7 * 86400, {}};
//   spec.revoked.push_back({serial, revoked_at, RevocationReason::kKeyCompromise, std::nullopt});
//   CrlPtr crl = make_crl(spec, [&](auto tbs) { return token.sign(key, scheme, tbs); });
//   std::string pem = crl_to_pem(crl.get());
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "appliance/x509/certificate.h"
#include "common/openssl.h"
#include "common/algorithms.h"

namespace custos::x509 {

// common/openssl.h has no deleter for X509_CRL; this one lets CrlPtr own a
// CRL on every path the way ossl::Ptr owns the other OpenSSL objects.
struct CrlDeleter {
  void operator()(X509_CRL* crl) const { X509_CRL_free(crl); }
};
using CrlPtr = std::unique_ptr<X509_CRL, CrlDeleter>;

// RFC 5280 CRLReason values (7 is unused).
enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kRemoveFromCrl = 8,
  kPrivilegeWithdrawn = 9,
  kAaCompromise = 10,
};

// RFC 5280 names as the CLI spells them: "unspecified", "keyCompromise",
// "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation",
// "certificateHold", "removeFromCRL", "privilegeWithdrawn", "aACompromise".
std::optional<RevocationReason> parse_revocation_reason(std::string_view name);
std::string_view revocation_reason_name(RevocationReason reason);

struct RevokedEntry {
  std::vector<std::uint8_t> serial;  // big-endian, positive, non-zero, as in CertificateSpec
  std::time_t revoked_at = 0;
  RevocationReason reason = RevocationReason::kUnspecified;
  std::optional<std::time_t> invalidity_date;  // RFC 5280 §5.3.2
};

struct CrlSpec {
  const X509_NAME* issuer = nullptr;
  std::vector<std::uint8_t> issuer_public_key;      // DER SubjectPublicKeyInfo, to verify the signed CRL
  std::vector<std::uint8_t> issuer_key_identifier;  // the issuer's SKI, for the AKI extension
  SignatureScheme scheme = SignatureScheme::kEcdsaSha256;
  std::int64_t number = 0;  // cRLNumber, > 0
  std::time_t this_update = 0;
  std::time_t next_update = 0;
  std::vector<RevokedEntry> revoked;  // in any order; the CRL lists them by serial
  bool tls = false;  // the CA issues TLS server certificates: the linter applies BR 4.9.7
};

// Builds a v2 CRL: version, issuer, thisUpdate, nextUpdate, the revoked
// certificates sorted by serial (each with a reasonCode entry extension
// unless the reason is unspecified, and an invalidityDate when given), and
// the CRL extensions cRLNumber and authorityKeyIdentifier (keyid). Checks
// the spec first (number > 0, next_update > this_update, serials positive
// and unique, no removeFromCRL in a full CRL), has `signer` sign the exact
// TBSCertList bytes, assembles, re-parses, compares the TBS and verifies the
// signature under issuer_public_key. Throws custos::Error naming what is
// wrong; `signer` is not called for a spec that fails the checks.
CrlPtr make_crl(const CrlSpec& spec, const Signer& signer);

std::string crl_to_pem(const X509_CRL* crl);
std::vector<std::uint8_t> crl_der(const X509_CRL* crl);

}  // namespace custos::x509
