#include "appliance/x509/crl.h"

#include "appliance/x509/lint.h"

#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <set>
#include <span>
#include <utility>

#include "appliance/x509/algorithm.h"
#include "common/encoding.h"
#include "common/error.h"

namespace custos::x509 {
namespace {

constexpr std::array<std::pair<RevocationReason, std::string_view>, 10> kReasonNames{{
    {RevocationReason::kUnspecified, "unspecified"},
    {RevocationReason::kKeyCompromise, "keyCompromise"},
    {RevocationReason::kCaCompromise, "cACompromise"},
    {RevocationReason::kAffiliationChanged, "affiliationChanged"},
    {RevocationReason::kSuperseded, "superseded"},
    {RevocationReason::kCessationOfOperation, "cessationOfOperation"},
    {RevocationReason::kCertificateHold, "certificateHold"},
    {RevocationReason::kRemoveFromCrl, "removeFromCRL"},
    {RevocationReason::kPrivilegeWithdrawn, "privilegeWithdrawn"},
    {RevocationReason::kAaCompromise, "aACompromise"},
}};

// common/openssl.h has no deleter for X509_REVOKED either; an entry is owned
// here until the CRL takes it.
struct RevokedDeleter {
  void operator()(X509_REVOKED* revoked) const { X509_REVOKED_free(revoked); }
};
using RevokedPtr = std::unique_ptr<X509_REVOKED, RevokedDeleter>;

// One DER element of the universal class whose content is `parts` one after
// the other. OpenSSL writes the identifier and length octets.
std::vector<std::uint8_t> der_element(int tag, bool constructed,
                                      std::initializer_list<std::span<const std::uint8_t>> parts) {
  std::size_t length = 0;
  for (std::span<const std::uint8_t> part : parts) length += part.size();
  int total = ASN1_object_size(constructed ? 1 : 0, static_cast<int>(length), tag);
  if (total <= 0) throw Error("encoding the CRL: an element is too long for DER");
  std::vector<std::uint8_t> der(static_cast<std::size_t>(total));
  unsigned char* cursor = der.data();
  ASN1_put_object(&cursor, constructed ? 1 : 0, static_cast<int>(length), tag, V_ASN1_UNIVERSAL);
  for (std::span<const std::uint8_t> part : parts) cursor = std::copy(part.begin(), part.end(), cursor);
  return der;
}

// A BIT STRING of whole bytes: the leading octet says no bits are unused.
std::vector<std::uint8_t> der_bit_string(std::span<const std::uint8_t> bytes) {
  static constexpr std::uint8_t kNoUnusedBits[] = {0x00};
  return der_element(V_ASN1_BIT_STRING, false, {kNoUnusedBits, bytes});
}

CrlPtr parse_crl(std::span<const std::uint8_t> der, const char* what) {
  const unsigned char* cursor = der.data();
  CrlPtr crl(d2i_X509_CRL(nullptr, &cursor, static_cast<long>(der.size())));
  if (!crl || cursor != der.data() + der.size()) {
    throw Error(std::string(what) + " does not parse: " + ossl::last_error());
  }
  return crl;
}

// The serial without its leading zero bytes, so that 00 01 and 01 are seen
// as the one number they encode.
std::vector<std::uint8_t> significant_bytes(const std::vector<std::uint8_t>& serial) {
  auto first = std::find_if(serial.begin(), serial.end(), [](std::uint8_t b) { return b != 0; });
  return {first, serial.end()};
}

void check_spec(const CrlSpec& spec) {
  if (spec.issuer == nullptr || X509_NAME_entry_count(spec.issuer) == 0) throw Error("the CRL has no issuer");
  if (spec.issuer_key_identifier.empty()) throw Error("the CRL has no issuer key identifier for its AKI");
  if (spec.number <= 0) throw Error("the CRL number must be positive (RFC 5280 §5.2.3)");
  if (spec.next_update <= spec.this_update) throw Error("the CRL's nextUpdate is not after its thisUpdate");
  std::set<std::string> listed;  // hex of the significant bytes
  for (const RevokedEntry& entry : spec.revoked) {
    std::string serial = to_hex(entry.serial);
    if (entry.serial.empty() || entry.serial.size() > 20 || (entry.serial.front() & 0x80) != 0 ||
        significant_bytes(entry.serial).empty()) {
      throw Error("the revoked serial '" + serial +
                  "' is not a positive number of at most 20 bytes (RFC 5280 §4.1.2.2)");
    }
    if (!listed.insert(to_hex(significant_bytes(entry.serial))).second) {
      throw Error("the serial " + serial + " is listed twice in the CRL");
    }
    if (entry.reason == RevocationReason::kRemoveFromCrl) {
      throw Error("the serial " + serial + " has the reason removeFromCRL, which only a delta CRL may carry (RFC 5280 "
                  "§5.3.1)");
    }
    if (!parse_revocation_reason(revocation_reason_name(entry.reason))) {
      throw Error("the serial " + serial + " has the unknown revocation reason " +
                  std::to_string(static_cast<int>(entry.reason)));
    }
  }
}

void add_entry_extension(X509_REVOKED* revoked, int nid, void* value, const char* what) {
  if (X509_REVOKED_add1_ext_i2d(revoked, nid, value, 0, X509V3_ADD_REPLACE) != 1) {
    throw Error(std::string("adding the ") + what + " entry extension: " + ossl::last_error());
  }
}

void add_crl_extension(X509_CRL* crl, int nid, void* value, const char* what) {
  if (X509_CRL_add1_ext_i2d(crl, nid, value, 0, X509V3_ADD_REPLACE) != 1) {
    throw Error(std::string("adding the ") + what + " extension: " + ossl::last_error());
  }
}

RevokedPtr revoked_entry(const RevokedEntry& entry) {
  RevokedPtr revoked(X509_REVOKED_new());
  ossl::Ptr<BIGNUM> number(BN_bin2bn(entry.serial.data(), static_cast<int>(entry.serial.size()), nullptr));
  ossl::Ptr<ASN1_STRING> serial(number ? BN_to_ASN1_INTEGER(number.get(), nullptr) : nullptr);
  ossl::Ptr<ASN1_STRING> revoked_at(ASN1_TIME_set(nullptr, entry.revoked_at));
  if (!revoked || !serial || !revoked_at || X509_REVOKED_set_serialNumber(revoked.get(), serial.get()) != 1 ||
      X509_REVOKED_set_revocationDate(revoked.get(), revoked_at.get()) != 1) {
    throw Error("building the CRL entry for " + to_hex(entry.serial) + ": " + ossl::last_error());
  }
  // RFC 5280 §5.3.1: the reasonCode is left out rather than say unspecified.
  if (entry.reason != RevocationReason::kUnspecified) {
    ossl::Ptr<ASN1_STRING> code(ASN1_ENUMERATED_new());
    if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<long>(entry.reason)) != 1) {
      throw Error("building the reasonCode: " + ossl::last_error());
    }
    add_entry_extension(revoked.get(), NID_crl_reason, code.get(), "reasonCode");
  }
  // RFC 5280 §5.3.2: always GeneralizedTime, unlike the revocationDate.
  if (entry.invalidity_date) {
    ossl::Ptr<ASN1_STRING> date(ASN1_GENERALIZEDTIME_set(nullptr, *entry.invalidity_date));
    if (!date) throw Error("building the invalidityDate: " + ossl::last_error());
    add_entry_extension(revoked.get(), NID_invalidity_date, date.get(), "invalidityDate");
  }
  return revoked;
}

// The TBSCertList carries its own copy of the signature algorithm, and
// OpenSSL 3.0 offers no way to set it on an X509_CRL: no setter, and no
// accessor like X509_get0_tbs_sigalg that certificate.cpp can const_cast.
// OpenSSL fills the field only while signing with a private key it holds,
// which a CA key never is. So the CRL starts as the smallest CertificateList
// that holds the algorithm (with the issuer and thisUpdate, which a
// TBSCertList cannot be without), written here and parsed by OpenSSL; every
// other field then goes in through OpenSSL's setters.
CrlPtr crl_with_algorithm(const CrlSpec& spec, std::span<const std::uint8_t> algorithm) {
  ossl::Ptr<ASN1_STRING> this_update(ASN1_TIME_set(nullptr, spec.this_update));
  if (!this_update) throw Error("building the CRL's thisUpdate: " + ossl::last_error());
  std::vector<std::uint8_t> issuer = ossl::to_der(spec.issuer, i2d_X509_NAME, "the CRL's issuer");
  std::vector<std::uint8_t> time = ossl::to_der(this_update.get(), i2d_ASN1_TIME, "the CRL's thisUpdate");
  std::vector<std::uint8_t> tbs = der_element(V_ASN1_SEQUENCE, true, {algorithm, issuer, time});
  return parse_crl(der_element(V_ASN1_SEQUENCE, true, {tbs, algorithm, der_bit_string({})}), "the CRL's skeleton");
}

}  // namespace

std::optional<RevocationReason> parse_revocation_reason(std::string_view name) {
  for (const auto& [reason, text] : kReasonNames) {
    if (text == name) return reason;
  }
  return std::nullopt;
}

std::string_view revocation_reason_name(RevocationReason reason) {
  for (const auto& [candidate, text] : kReasonNames) {
    if (candidate == reason) return text;
  }
  return "unknown";
}

CrlPtr make_crl(const CrlSpec& spec, const Signer& signer) {
  check_spec(spec);
  ossl::Ptr<EVP_PKEY> issuer_key = parse_public_key(spec.issuer_public_key);
  std::vector<std::uint8_t> algorithm =
      ossl::to_der(signature_algorithm(spec.scheme).get(), i2d_X509_ALGOR, "the CRL's signature algorithm");
  CrlPtr crl = crl_with_algorithm(spec, algorithm);

  ossl::Ptr<ASN1_STRING> next_update(ASN1_TIME_set(nullptr, spec.next_update));
  if (!next_update || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    throw Error("building the CRL: " + ossl::last_error());
  }
  for (const RevokedEntry& entry : spec.revoked) {
    RevokedPtr revoked = revoked_entry(entry);
    if (X509_CRL_add0_revoked(crl.get(), revoked.get()) != 1) {
      throw Error("adding the CRL entry for " + to_hex(entry.serial) + ": " + ossl::last_error());
    }
    revoked.release();  // the CRL owns it now
  }
  // Sorted by serial, so that the CRL is the same whatever order the spec
  // lists the entries in.
  if (X509_CRL_sort(crl.get()) != 1) throw Error("sorting the CRL entries: " + ossl::last_error());

  ossl::Ptr<ASN1_STRING> number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), spec.number) != 1) {
    throw Error("building the cRLNumber: " + ossl::last_error());
  }
  add_crl_extension(crl.get(), NID_crl_number, number.get(), "cRLNumber");
  ossl::Ptr<AUTHORITY_KEYID> aki(AUTHORITY_KEYID_new());
  ossl::Ptr<ASN1_STRING> key_id(ASN1_OCTET_STRING_new());
  if (!aki || !key_id ||
      ASN1_OCTET_STRING_set(key_id.get(), spec.issuer_key_identifier.data(),
                            static_cast<int>(spec.issuer_key_identifier.size())) != 1) {
    throw Error("building the authorityKeyIdentifier: " + ossl::last_error());
  }
  aki->keyid = key_id.release();
  add_crl_extension(crl.get(), NID_authority_key_identifier, aki.get(), "authorityKeyIdentifier");

  if (std::vector<Finding> findings = lint_crl(crl.get(), spec.tls); has_errors(findings)) {
    throw LintRefusal(std::move(findings));
  }
  std::vector<std::uint8_t> tbs = ossl::to_der(crl.get(), i2d_re_X509_CRL_tbs, "the TBSCertList");
  std::vector<std::uint8_t> signature = signer(tbs);

  // Assembled from the very bytes that were signed, then read back the way
  // a relying party will read it.
  CrlPtr signed_crl = parse_crl(der_element(V_ASN1_SEQUENCE, true, {tbs, algorithm, der_bit_string(signature)}),
                                "the assembled CRL");
  if (ossl::to_der(signed_crl.get(), i2d_re_X509_CRL_tbs, "the TBSCertList") != tbs) {
    throw Error("the signed TBSCertList is not the one that was built");
  }
  if (X509_CRL_verify(signed_crl.get(), issuer_key.get()) != 1) {
    throw Error("the token's signature does not verify under the issuer's public key: " + ossl::last_error());
  }
  return signed_crl;
}

std::string crl_to_pem(const X509_CRL* crl) {
  ossl::Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl) != 1) throw Error("writing the CRL as PEM: " + ossl::last_error());
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::vector<std::uint8_t> crl_der(const X509_CRL* crl) { return ossl::to_der(crl, i2d_X509_CRL, "the CRL"); }

}  // namespace custos::x509
