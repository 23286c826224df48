#include "appliance/x509/crl.h"

#include "appliance/x509/lint.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <span>
#include <utility>

#include "appliance/x509/algorithm.h"
#include "appliance/x509/pem.h"
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

// The longest CRL made: OpenSSL's DER functions take lengths as int. A
// gigabyte is some twenty million entries.
constexpr std::size_t kLongestCrlBytes = std::size_t{1} << 30;

// The octets of an element of the universal class with `length` content
// octets: identifier, length and content.
std::size_t element_size(bool constructed, std::size_t length, int tag) {
  const int total = length > kLongestCrlBytes ? -1 : ASN1_object_size(constructed ? 1 : 0, static_cast<int>(length), tag);
  if (total <= 0) throw Error("encoding the CRL: it is too long for DER");
  return static_cast<std::size_t>(total);
}

// One DER element of the universal class whose content is `parts` one after
// the other. OpenSSL writes the identifier and length octets.
std::vector<std::uint8_t> der_element(int tag, bool constructed,
                                      std::initializer_list<std::span<const std::uint8_t>> parts) {
  std::size_t length = 0;
  for (std::span<const std::uint8_t> part : parts) length += part.size();
  std::vector<std::uint8_t> der(element_size(constructed, length, tag));
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

// The serial without its leading zero bytes, so that 00 01 and 01 are seen
// as the one number they encode.
std::span<const std::uint8_t> significant_bytes(std::span<const std::uint8_t> serial) {
  auto first = std::find_if(serial.begin(), serial.end(), [](std::uint8_t b) { return b != 0; });
  return serial.subspan(static_cast<std::size_t>(first - serial.begin()));
}

// <0, 0, >0 as the number `a` is below, equal to or above `b`, both
// without leading zero bytes.
int compare_numbers(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return std::memcmp(a.data(), b.data(), a.size());
}

void check_spec(const CrlSpec& spec) {
  if (spec.issuer == nullptr || X509_NAME_entry_count(spec.issuer) == 0) throw Error("the CRL has no issuer");
  if (spec.issuer_key_identifier.empty()) throw Error("the CRL has no issuer key identifier for its AKI");
  if (spec.number <= 0) throw Error("the CRL number must be positive (RFC 5280 §5.2.3)");
  if (spec.next_update <= spec.this_update) throw Error("the CRL's nextUpdate is not after its thisUpdate");
}

void add_crl_extension(X509_CRL* crl, int nid, void* value, const char* what) {
  if (X509_CRL_add1_ext_i2d(crl, nid, value, 0, X509V3_ADD_REPLACE) != 1) {
    throw Error(std::string("adding the ") + what + " extension: " + ossl::last_error());
  }
}

// The DER of one entry extension, as X509_REVOKED_add1_ext_i2d would add it
// (not critical).
std::vector<std::uint8_t> entry_extension(int nid, void* value, const char* what) {
  ossl::Ptr<X509_EXTENSION> extension(X509V3_EXT_i2d(nid, 0, value));
  if (!extension) throw Error(std::string("building the ") + what + " entry extension: " + ossl::last_error());
  return ossl::to_der(extension.get(), i2d_X509_EXTENSION, what);
}

// Writes the entries of revokedCertificates straight into the CRL's bytes,
// one at a time, checking each as it comes. By hand, because OpenSSL's
// X509_CRL holds every entry as a tree of objects (some 500 bytes apiece):
// a CRL of a million entries took half a gigabyte to build, and as much
// again to parse back. OpenSSL still encodes every field (the times, the
// extensions); this lays the fields out.
class EntryWriter {
 public:
  EntryWriter(std::vector<std::uint8_t>& out, std::time_t this_update) : out_(out), latest_revocation_(this_update) {}

  void add(const RevokedEntry& entry) {
    std::span<const std::uint8_t> number = check(entry);
    ++count_;
    latest_revocation_ = std::max(latest_revocation_, entry.revoked_at);
    encode_time(entry.revoked_at);
    // RFC 5280 §5.3.1: the reasonCode is left out rather than say unspecified.
    std::span<const std::uint8_t> reason;
    if (entry.reason != RevocationReason::kUnspecified) reason = reason_extension(entry.reason);
    // RFC 5280 §5.3.2: always GeneralizedTime, unlike the revocationDate.
    std::vector<std::uint8_t> invalidity;
    if (entry.invalidity_date) invalidity = invalidity_extension(*entry.invalidity_date);

    // An INTEGER is signed: a number whose first bit is set takes a zero octet before it.
    const std::size_t integer_length = number.size() + ((number.front() & 0x80) != 0 ? 1 : 0);
    const std::size_t extensions_length = reason.size() + invalidity.size();
    const std::size_t content = element_size(false, integer_length, V_ASN1_INTEGER) + encoded_time_.size() +
                                (extensions_length > 0 ? element_size(true, extensions_length, V_ASN1_SEQUENCE) : 0);
    const std::size_t at = out_.size();
    out_.resize(at + element_size(true, content, V_ASN1_SEQUENCE));
    unsigned char* cursor = out_.data() + at;
    ASN1_put_object(&cursor, 1, static_cast<int>(content), V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    ASN1_put_object(&cursor, 0, static_cast<int>(integer_length), V_ASN1_INTEGER, V_ASN1_UNIVERSAL);
    if (integer_length > number.size()) *cursor++ = 0x00;
    cursor = std::copy(number.begin(), number.end(), cursor);
    cursor = std::copy(encoded_time_.begin(), encoded_time_.end(), cursor);
    if (extensions_length > 0) {
      ASN1_put_object(&cursor, 1, static_cast<int>(extensions_length), V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
      cursor = std::copy(reason.begin(), reason.end(), cursor);
      std::copy(invalidity.begin(), invalidity.end(), cursor);
    }
  }

  std::size_t count() const { return count_; }
  std::time_t latest_revocation() const { return latest_revocation_; }

 private:
  // The serial's number, once it is known to be one a CRL may list next.
  std::span<const std::uint8_t> check(const RevokedEntry& entry) {
    std::span<const std::uint8_t> number = significant_bytes(entry.serial);
    if (entry.serial.empty() || entry.serial.size() > 20 || (entry.serial.front() & 0x80) != 0 || number.empty()) {
      throw Error("the revoked serial '" + to_hex(entry.serial) +
                  "' is not a positive number of at most 20 bytes (RFC 5280 §4.1.2.2)");
    }
    if (count_ > 0) {
      int order = compare_numbers(previous_, number);
      if (order == 0) throw Error("the serial " + to_hex(entry.serial) + " is listed twice in the CRL");
      if (order > 0) {
        throw Error("the revoked serial " + to_hex(entry.serial) + " comes after " + to_hex(previous_) + ", out of order");
      }
    }
    previous_.assign(number.begin(), number.end());
    if (entry.reason == RevocationReason::kRemoveFromCrl) {
      throw Error("the serial " + to_hex(entry.serial) +
                  " has the reason removeFromCRL, which only a delta CRL may carry (RFC 5280 §5.3.1)");
    }
    if (!parse_revocation_reason(revocation_reason_name(entry.reason))) {
      throw Error("the serial " + to_hex(entry.serial) + " has the unknown revocation reason " +
                  std::to_string(static_cast<int>(entry.reason)));
    }
    return number;
  }

  // Made the first time a reason is met, then copied into each entry.
  std::span<const std::uint8_t> reason_extension(RevocationReason reason) {
    std::vector<std::uint8_t>& extension = reason_extensions_.at(static_cast<std::size_t>(reason));
    if (extension.empty()) {
      ossl::Ptr<ASN1_STRING> code(ASN1_ENUMERATED_new());
      if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<long>(reason)) != 1) {
        throw Error("building the reasonCode: " + ossl::last_error());
      }
      extension = entry_extension(NID_crl_reason, code.get(), "reasonCode");
    }
    return extension;
  }

  // RFC 5280 §5.1.2.6 (as §4.1.2.5.1 and .2): UTCTime YYMMDDHHMMSSZ through
  // 2049, GeneralizedTime YYYYMMDDHHMMSSZ from 2050. Written here, not by
  // ASN1_TIME_set, which formats through BIO_snprintf: that was a third of
  // the time of each entry. The tests hold it to OpenSSL's encoding.
  void encode_time(std::time_t when) {
    std::tm parts{};
    if (gmtime_r(&when, &parts) == nullptr || parts.tm_year + 1900 < 1950 || parts.tm_year + 1900 > 9999) {
      throw Error("the revocationDate " + std::to_string(when) + " has no RFC 5280 encoding");
    }
    const int year = parts.tm_year + 1900;
    const bool utc_time = year < 2050;
    encoded_time_.assign({static_cast<std::uint8_t>(utc_time ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME),
                          static_cast<std::uint8_t>(utc_time ? 13 : 15)});
    auto two_digits = [&](int value) {
      encoded_time_.push_back(static_cast<std::uint8_t>('0' + value / 10));
      encoded_time_.push_back(static_cast<std::uint8_t>('0' + value % 10));
    };
    if (!utc_time) two_digits(year / 100);
    for (int field : {year % 100, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec}) {
      two_digits(field);
    }
    encoded_time_.push_back('Z');
  }

  static std::vector<std::uint8_t> invalidity_extension(std::time_t date) {
    ossl::Ptr<ASN1_STRING> time(ASN1_GENERALIZEDTIME_set(nullptr, date));
    if (!time) throw Error("building the invalidityDate: " + ossl::last_error());
    return entry_extension(NID_invalidity_date, time.get(), "invalidityDate");
  }

  std::vector<std::uint8_t>& out_;
  std::size_t count_ = 0;
  std::time_t latest_revocation_;
  std::vector<std::uint8_t> previous_;  // the number of the serial before
  std::vector<std::uint8_t> encoded_time_;  // the entry's revocationDate, DER
  std::array<std::vector<std::uint8_t>, 11> reason_extensions_;  // by CRLReason value
};

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

// A TBSCertList without entries, as OpenSSL encodes it, in the two runs
// of content that the entries go between: the fields up to nextUpdate, and
// the [0] crlExtensions.
struct TbsAroundEntries {
  std::vector<std::uint8_t> before;
  std::vector<std::uint8_t> after;
};

TbsAroundEntries split_at_extensions(const std::vector<std::uint8_t>& tbs) {
  const unsigned char* cursor = tbs.data();
  const unsigned char* const tbs_end = tbs.data() + tbs.size();
  long length = 0;
  int tag = 0;
  int tag_class = 0;
  if ((ASN1_get_object(&cursor, &length, &tag, &tag_class, static_cast<long>(tbs.size())) & 0x80) != 0 ||
      cursor + length != tbs_end) {
    throw Error("the TBSCertList OpenSSL encoded does not parse");
  }
  const unsigned char* const content = cursor;
  while (cursor < tbs_end) {
    const unsigned char* element = cursor;
    if ((ASN1_get_object(&cursor, &length, &tag, &tag_class, tbs_end - cursor) & 0x80) != 0) {
      throw Error("the TBSCertList OpenSSL encoded does not parse");
    }
    if (tag_class == V_ASN1_CONTEXT_SPECIFIC && tag == 0) return {{content, element}, {element, tbs_end}};
    cursor += length;
  }
  throw Error("the TBSCertList OpenSSL encoded has no crlExtensions");
}

// Writes the identifier and length octets of an element of `length`
// content octets so that they end at `end`; returns where they begin.
std::size_t put_header_before(std::vector<std::uint8_t>& der, std::size_t end, std::size_t length, int tag) {
  const std::size_t header = element_size(true, length, tag) - length;
  unsigned char* cursor = der.data() + end - header;
  ASN1_put_object(&cursor, 1, static_cast<int>(length), tag, V_ASN1_UNIVERSAL);
  return end - header;
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

RevokedSource revoked_in_order(std::vector<RevokedEntry> entries) {
  // Stable, so that of two entries for one number the second is the one
  // named as listed twice.
  std::stable_sort(entries.begin(), entries.end(), [](const RevokedEntry& a, const RevokedEntry& b) {
    return compare_numbers(significant_bytes(a.serial), significant_bytes(b.serial)) < 0;
  });
  return [entries = std::move(entries)](const std::function<void(const RevokedEntry&)>& add) {
    for (const RevokedEntry& entry : entries) add(entry);
  };
}

CrlPtr parse_crl(std::span<const std::uint8_t> der, const char* what) {
  const unsigned char* cursor = der.data();
  CrlPtr crl(d2i_X509_CRL(nullptr, &cursor, static_cast<long>(der.size())));
  if (!crl || cursor != der.data() + der.size()) {
    throw Error(std::string(what) + " does not parse: " + ossl::last_error());
  }
  return crl;
}

std::vector<std::uint8_t> make_crl(const CrlSpec& spec, const Signer& signer) {
  check_spec(spec);
  ossl::Ptr<EVP_PKEY> issuer_key = parse_public_key(spec.issuer_public_key);
  std::vector<std::uint8_t> algorithm =
      ossl::to_der(signature_algorithm(spec.scheme).get(), i2d_X509_ALGOR, "the CRL's signature algorithm");

  // Every field but the entries, through OpenSSL, and linted as it will be.
  CrlPtr without_entries = crl_with_algorithm(spec, algorithm);
  ossl::Ptr<ASN1_STRING> next_update(ASN1_TIME_set(nullptr, spec.next_update));
  if (!next_update || X509_CRL_set_version(without_entries.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set1_nextUpdate(without_entries.get(), next_update.get()) != 1) {
    throw Error("building the CRL: " + ossl::last_error());
  }
  ossl::Ptr<ASN1_STRING> number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), spec.number) != 1) {
    throw Error("building the cRLNumber: " + ossl::last_error());
  }
  add_crl_extension(without_entries.get(), NID_crl_number, number.get(), "cRLNumber");
  ossl::Ptr<AUTHORITY_KEYID> aki(AUTHORITY_KEYID_new());
  ossl::Ptr<ASN1_STRING> key_id(ASN1_OCTET_STRING_new());
  if (!aki || !key_id ||
      ASN1_OCTET_STRING_set(key_id.get(), spec.issuer_key_identifier.data(),
                            static_cast<int>(spec.issuer_key_identifier.size())) != 1) {
    throw Error("building the authorityKeyIdentifier: " + ossl::last_error());
  }
  aki->keyid = key_id.release();
  add_crl_extension(without_entries.get(), NID_authority_key_identifier, aki.get(), "authorityKeyIdentifier");
  if (std::vector<Finding> findings = lint_crl(without_entries.get(), spec.tls); has_errors(findings)) {
    throw LintRefusal(std::move(findings));
  }
  TbsAroundEntries around =
      split_at_extensions(ossl::to_der(without_entries.get(), i2d_re_X509_CRL_tbs, "the TBSCertList"));
  without_entries.reset();

  // The entries go straight into the CRL's buffer behind room for what
  // precedes them (three headers of at most six octets and the fields up
  // to nextUpdate), which is written once their length is known.
  constexpr std::size_t kLongestHeader = 6;
  const std::size_t room = 3 * kLongestHeader + around.before.size();
  std::vector<std::uint8_t> der(room);
  EntryWriter entries(der, spec.this_update);
  if (spec.revoked) spec.revoked([&](const RevokedEntry& entry) { entries.add(entry); });
  if (std::vector<Finding> findings = lint_crl_revocation_dates(entries.latest_revocation(), spec.this_update);
      has_errors(findings)) {
    throw LintRefusal(std::move(findings));
  }
  const std::size_t entries_end = der.size();
  der.insert(der.end(), around.after.begin(), around.after.end());
  const std::size_t tbs_end = der.size();
  // RFC 5280 §5.1.2.6: no entries, no revokedCertificates (not an empty SEQUENCE).
  std::size_t start = entries.count() > 0 ? put_header_before(der, room, entries_end - room, V_ASN1_SEQUENCE) : room;
  start -= around.before.size();
  std::copy(around.before.begin(), around.before.end(), der.begin() + static_cast<std::ptrdiff_t>(start));
  const std::size_t tbs_start = put_header_before(der, start, tbs_end - start, V_ASN1_SEQUENCE);
  const std::span<const std::uint8_t> tbs(der.data() + tbs_start, tbs_end - tbs_start);

  std::vector<std::uint8_t> signature = signer(tbs);
  if (!signature_verifies(spec.scheme, issuer_key.get(), tbs, signature)) {
    throw Error("the token's signature does not verify under the issuer's public key: " + ossl::last_error());
  }
  der.insert(der.end(), algorithm.begin(), algorithm.end());
  std::vector<std::uint8_t> signature_value = der_bit_string(signature);
  der.insert(der.end(), signature_value.begin(), signature_value.end());
  const std::size_t crl_start = put_header_before(der, tbs_start, der.size() - tbs_start, V_ASN1_SEQUENCE);
  der.erase(der.begin(), der.begin() + static_cast<std::ptrdiff_t>(crl_start));
  return der;
}

std::string crl_to_pem(std::span<const std::uint8_t> der) { return pem_armour(PEM_STRING_X509_CRL, der); }


}  // namespace custos::x509
