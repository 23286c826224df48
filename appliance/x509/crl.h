// Certificate revocation lists formed in software and signed by the token,
// in the order certificate.h follows: check the specification, build the
// TBSCertList, hand exactly those bytes to the signer, assemble, and verify
// the signature under the issuer's public key before anyone sees it. The
// entries stream: they are written into the DER one at a time as the
// source hands them over, so a CRL of a million entries costs its own size
// in memory and no more.
//
//   CrlSpec spec{X509_get_subject_name(ca), ca_public_key, subject_key_identifier(ca), scheme, 42, now,
//                now + 7 * 86400, revoked_in_order({{serial, revoked_at, RevocationReason::kKeyCompromise, {}}})};
//   std::vector<std::uint8_t> der = make_crl(spec, [&](auto tbs) { return token.sign(key, scheme, tbs); });
//   std::string pem = crl_to_pem(der);
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <span>
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

// Hands a CRL's revoked certificates to `add` one at a time, in ascending
// order of serial number (as numbers: 0F before 0100).
using RevokedSource = std::function<void(const std::function<void(const RevokedEntry&)>& add)>;

// A source of entries held in memory, in any order: it sorts them by
// serial number.
RevokedSource revoked_in_order(std::vector<RevokedEntry> entries);

struct CrlSpec {
  const X509_NAME* issuer = nullptr;
  std::vector<std::uint8_t> issuer_public_key;      // DER SubjectPublicKeyInfo, to verify the signed CRL
  std::vector<std::uint8_t> issuer_key_identifier;  // the issuer's SKI, for the AKI extension
  SignatureScheme scheme = SignatureScheme::kEcdsaSha256;
  std::int64_t number = 0;  // cRLNumber, > 0
  std::time_t this_update = 0;
  std::time_t next_update = 0;
  RevokedSource revoked;  // unset: no entries
  bool tls = false;  // the CA issues TLS server certificates: the linter applies BR 4.9.7
};

// Builds a v2 CRL and returns its DER: version, issuer, thisUpdate,
// nextUpdate, the revoked certificates in the source's order (each with a
// reasonCode entry extension unless the reason is unspecified, and an
// invalidityDate when given), and the CRL extensions cRLNumber and
// authorityKeyIdentifier (keyid). Checks the spec (number > 0, next_update
// > this_update) and each entry as it comes (serials positive, at most 20
// bytes, strictly ascending, so none twice; no removeFromCRL in a full
// CRL), lints the CRL, has `signer` sign the exact TBSCertList bytes,
// assembles, and verifies the signature under issuer_public_key. Throws
// custos::Error naming what is wrong, LintRefusal for a linter error;
// `signer` is not called for a CRL that fails a check.
std::vector<std::uint8_t> make_crl(const CrlSpec& spec, const Signer& signer);

// A DER CRL parsed by OpenSSL, all of it; throws naming `what`.
CrlPtr parse_crl(std::span<const std::uint8_t> der, const char* what = "the CRL");

// PEM ("X509 CRL") of a CRL's DER, without parsing it.
std::string crl_to_pem(std::span<const std::uint8_t> der);

}  // namespace custos::x509
