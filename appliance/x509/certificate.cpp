#include "appliance/x509/certificate.h"

#include <algorithm>

#include "appliance/x509/algorithm.h"
#include "appliance/x509/certificate_rules.h"
#include "appliance/x509/lint.h"
#include "common/encoding.h"
#include "common/error.h"

namespace custos::x509 {
namespace {

void add_extension(X509* certificate, int nid, void* value, bool critical, const char* what) {
  if (X509_add1_ext_i2d(certificate, nid, value, critical ? 1 : 0, X509V3_ADD_REPLACE) != 1) {
    throw Error(std::string("adding the ") + what + " extension: " + ossl::last_error());
  }
}

ossl::Ptr<ASN1_STRING> octet_string(std::span<const std::uint8_t> bytes) {
  ossl::Ptr<ASN1_STRING> value(ASN1_OCTET_STRING_new());
  if (!value || ASN1_OCTET_STRING_set(value.get(), bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw Error("building an OCTET STRING: " + ossl::last_error());
  }
  return value;
}

ossl::Ptr<ASN1_OBJECT> object_of(const std::string& name) {
  ossl::Ptr<ASN1_OBJECT> object(OBJ_txt2obj(name.c_str(), 0));
  if (!object) throw Error("'" + name + "' is neither a known name nor a dotted OID");
  return object;
}

// An extension's OID from a verdict or an edit: dotted, in its one
// canonical spelling ("2.5.29.019" is refused, not read as 2.5.29.19).
ossl::Ptr<ASN1_OBJECT> extension_object(const std::string& oid) {
  if (!is_canonical_oid(oid)) throw Error("'" + oid + "' is not an OID in canonical dotted form");
  return ossl::Ptr<ASN1_OBJECT>(OBJ_txt2obj(oid.c_str(), 1));
}

// basicConstraints, SKI and AKI are the engine's, compared as objects.
ossl::Ptr<ASN1_OBJECT> changeable_extension(const std::string& oid, const char* change) {
  ossl::Ptr<ASN1_OBJECT> object = extension_object(oid);
  int nid = OBJ_obj2nid(object.get());
  if (nid == NID_basic_constraints || nid == NID_subject_key_identifier || nid == NID_authority_key_identifier) {
    throw Error("the extension " + oid + " is set by the engine and cannot be " + change);
  }
  return object;
}

// The SAN from request values, built field by field: a value is data, never
// parsed as OpenSSL configuration text (a comma in a name stays a comma).
ossl::Ptr<GENERAL_NAMES> general_names(const std::vector<SubjectAltName>& entries) {
  ossl::Ptr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  for (const SubjectAltName& entry : entries) {
    GENERAL_NAME* name = nullptr;
    if (entry.type == "ip") {
      ASN1_OCTET_STRING* address = a2i_IPADDRESS(entry.value.c_str());
      if (address == nullptr) throw Error("'" + entry.value + "' is not an IP address");
      name = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(name, GEN_IPADD, address);
    } else {
      int type = entry.type == "dns" ? GEN_DNS : entry.type == "email" ? GEN_EMAIL : entry.type == "uri" ? GEN_URI : -1;
      if (type < 0) throw Error("a subjectAltName of type '" + entry.type + "' is not supported");
      ASN1_IA5STRING* value = ASN1_IA5STRING_new();
      ASN1_STRING_set(value, entry.value.data(), static_cast<int>(entry.value.size()));
      name = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(name, type, value);
    }
    sk_GENERAL_NAME_push(names.get(), name);
  }
  return names;
}

// URL lists from custos.toml go through OpenSSL's own extension syntax;
// the configuration refuses URLs with commas, which that syntax splits on.
void add_configured_extension(X509* certificate, int nid, const std::string& value, const char* what) {
  ossl::Ptr<X509_EXTENSION> extension(X509V3_EXT_conf_nid(nullptr, nullptr, nid, value.c_str()));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    throw Error(std::string("adding the ") + what + " extension: " + ossl::last_error());
  }
}

void delete_extensions(X509* certificate, const ASN1_OBJECT* object) {
  for (int index; (index = X509_get_ext_by_OBJ(certificate, object, -1)) >= 0;) {
    X509_EXTENSION_free(X509_delete_ext(certificate, index));
  }
}

void replace_extension(X509* certificate, const RequestedExtension& requested) {
  ossl::Ptr<ASN1_OBJECT> object = changeable_extension(requested.oid, "added or replaced");
  delete_extensions(certificate, object.get());
  ossl::Ptr<ASN1_STRING> value = octet_string(requested.der);
  ossl::Ptr<X509_EXTENSION> extension(
      X509_EXTENSION_create_by_OBJ(nullptr, object.get(), requested.critical ? 1 : 0, value.get()));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    throw Error("adding the extension " + requested.oid + ": " + ossl::last_error());
  }
}

void remove_extension(X509* certificate, const std::string& oid) {
  delete_extensions(certificate, changeable_extension(oid, "removed").get());
}

// certificatePolicies built field by field, the CPS URI as an IA5String.
ossl::Ptr<CERTIFICATEPOLICIES> certificate_policies(const std::vector<CertificatePolicy>& entries) {
  ossl::Ptr<CERTIFICATEPOLICIES> policies(sk_POLICYINFO_new_null());
  for (const CertificatePolicy& entry : entries) {
    POLICYINFO* info = POLICYINFO_new();
    sk_POLICYINFO_push(policies.get(), info);
    info->policyid = extension_object(entry.oid).release();
    if (entry.cps_uri.empty()) continue;
    POLICYQUALINFO* qualifier = POLICYQUALINFO_new();
    info->qualifiers = sk_POLICYQUALINFO_new_null();
    sk_POLICYQUALINFO_push(info->qualifiers, qualifier);
    qualifier->pqualid = OBJ_nid2obj(NID_id_qt_cps);
    qualifier->d.cpsuri = ASN1_IA5STRING_new();
    if (ASN1_STRING_set(qualifier->d.cpsuri, entry.cps_uri.data(), static_cast<int>(entry.cps_uri.size())) != 1) {
      throw Error("building certificatePolicies: " + ossl::last_error());
    }
  }
  return policies;
}

std::string joined_urls(const std::string& prefix, const std::vector<std::string>& urls) {
  std::string text;
  for (const std::string& url : urls) text += (text.empty() ? "" : ",") + prefix + "URI:" + url;
  return text;
}

void check_spec(const CertificateSpec& spec, const IssuerSpec& issuer) {
  if (!spec.subject) throw Error("the certificate has no subject");
  if (X509_NAME_entry_count(spec.subject.get()) == 0 && spec.san.empty()) {
    throw Error("a certificate with an empty subject needs a subjectAltName");
  }
  if (issuer.name == nullptr) throw Error("the certificate has no issuer");
  if (spec.serial.empty() || spec.serial.size() > 20 || (spec.serial.front() & 0x80) != 0 ||
      std::all_of(spec.serial.begin(), spec.serial.end(), [](std::uint8_t b) { return b == 0; })) {
    throw Error("the serial must be a positive number of at most 20 bytes (RFC 5280 §4.1.2.2)");
  }
  if (spec.not_after <= spec.not_before) throw Error("the certificate's validity ends before it begins");
  if (spec.path_length && !spec.ca) throw Error("a path length is only allowed in a CA certificate");
  if (spec.ca && (spec.key_usage & kKeyCertSign) == 0) {
    throw Error("a CA certificate must have keyCertSign in its key usage");
  }
  if (!spec.ca && (spec.key_usage & (kKeyCertSign | kCrlSign)) != 0) {
    throw Error("only a CA certificate may have keyCertSign or cRLSign in its key usage");
  }
}

// The next DER element at `cursor` (before `end`), which must be a
// universal `tag`: its contents. `cursor` moves past the element, or only
// past its header with `step_inside`. Read with OpenSSL's DER reader
// (ASN1_get_object), which decodes no key: d2i_X509_PUBKEY and d2i_X509
// would, the costliest step of an issuance.
std::span<const std::uint8_t> der_element(const unsigned char*& cursor, const unsigned char* end, int tag,
                                          bool step_inside, const char* what) {
  long length = 0;
  int found_tag = 0;
  int found_class = 0;
  int flags = ASN1_get_object(&cursor, &length, &found_tag, &found_class, end - cursor);
  if ((flags & 0x80) != 0 || found_tag != tag || found_class != V_ASN1_UNIVERSAL) throw Error(what);
  std::span<const std::uint8_t> contents(cursor, static_cast<std::size_t>(length));
  if (!step_inside) cursor += length;
  return contents;
}

// `held` with a reference of our own, or, when the caller holds none,
// `spki` decoded.
ossl::Ptr<EVP_PKEY> held_or_parsed_key(EVP_PKEY* held, std::span<const std::uint8_t> spki, const char* whose) {
  if (held == nullptr) return parse_public_key(spki);
  if (EVP_PKEY_up_ref(held) != 1) throw Error(std::string("holding ") + whose + " public key: " + ossl::last_error());
  return ossl::Ptr<EVP_PKEY>(held);
}

// Sets the certificate's SubjectPublicKeyInfo to `spki`, byte for byte,
// without decoding the key: X509_set_pubkey encodes the key object and
// decodes the encoding again (OpenSSL 3's decoder set-up, a sixth of an
// issuance's CPU). The X509 then holds no key object (X509_get0_pubkey is
// null), which is why the linter is lent the caller's.
void set_public_key_info(X509* certificate, std::span<const std::uint8_t> spki) {
  constexpr const char* kMalformed = "the subject public key info is not one DER SubjectPublicKeyInfo";
  const unsigned char* cursor = spki.data();
  const unsigned char* end = cursor + spki.size();
  der_element(cursor, end, V_ASN1_SEQUENCE, true, kMalformed);
  ossl::Ptr<X509_ALGOR> algorithm(d2i_X509_ALGOR(nullptr, &cursor, end - cursor));
  ossl::Ptr<ASN1_BIT_STRING> bits(algorithm ? d2i_ASN1_BIT_STRING(nullptr, &cursor, end - cursor) : nullptr);
  if (!bits || cursor != end) throw Error(kMalformed);
  X509_PUBKEY* field = X509_get_X509_PUBKEY(certificate);
  auto* key_bits = static_cast<unsigned char*>(OPENSSL_memdup(ASN1_STRING_get0_data(bits.get()), ASN1_STRING_length(bits.get())));
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm.get());
  ASN1_OBJECT* owned_oid = OBJ_dup(oid);
  X509_ALGOR* field_algorithm = nullptr;
  if (key_bits == nullptr || owned_oid == nullptr ||
      X509_PUBKEY_set0_param(field, owned_oid, V_ASN1_UNDEF, nullptr, key_bits, ASN1_STRING_length(bits.get())) != 1) {
    OPENSSL_free(key_bits);
    ASN1_OBJECT_free(owned_oid);
    throw Error("setting the subject public key: " + ossl::last_error());
  }
  // The algorithm with its parameters (an EC key's curve), copied whole.
  X509_PUBKEY_get0_param(nullptr, nullptr, nullptr, &field_algorithm, field);
  if (X509_ALGOR_copy(field_algorithm, algorithm.get()) != 1) {
    throw Error("setting the subject public key's algorithm: " + ossl::last_error());
  }
  // What the certificate now carries must be the request's bytes: a BIT
  // STRING with unused bits, or a non-DER algorithm, would not be.
  std::vector<std::uint8_t> written = ossl::to_der(field, i2d_X509_PUBKEY, "the subject public key");
  if (!std::equal(written.begin(), written.end(), spki.begin(), spki.end())) throw Error(kMalformed);
}

}  // namespace

bool is_canonical_oid(const std::string& text) {
  ossl::Ptr<ASN1_OBJECT> object(OBJ_txt2obj(text.c_str(), 1));
  char canonical[128];
  return object && OBJ_obj2txt(canonical, sizeof canonical, object.get(), 1) > 0 && text == canonical;
}

ossl::Ptr<EVP_PKEY> parse_public_key(std::span<const std::uint8_t> subject_public_key_info) {
  const unsigned char* cursor = subject_public_key_info.data();
  ossl::Ptr<EVP_PKEY> key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(subject_public_key_info.size())));
  if (!key || cursor != subject_public_key_info.data() + subject_public_key_info.size()) {
    throw Error("the public key is not a valid SubjectPublicKeyInfo: " + ossl::last_error());
  }
  return key;
}

std::vector<std::uint8_t> key_identifier(std::span<const std::uint8_t> subject_public_key_info) {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
  // subjectPublicKey BIT STRING }: the identifier is the SHA-1 of the bit
  // string's bytes, read without decoding the key.
  constexpr const char* kNotSpki = "reading the public key for its identifier: not a SubjectPublicKeyInfo";
  const unsigned char* cursor = subject_public_key_info.data();
  const unsigned char* end = cursor + subject_public_key_info.size();
  der_element(cursor, end, V_ASN1_SEQUENCE, true, kNotSpki);
  der_element(cursor, end, V_ASN1_SEQUENCE, false, kNotSpki);
  std::span<const std::uint8_t> bits = der_element(cursor, end, V_ASN1_BIT_STRING, false, kNotSpki);
  if (bits.empty() || bits[0] != 0) throw Error("reading the public key for its identifier: a partial last byte");
  return ossl::sha_digest("SHA1", bits.subspan(1));
}

std::vector<std::uint8_t> subject_key_identifier(X509* certificate) {
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(certificate)) {
    const unsigned char* data = ASN1_STRING_get0_data(ski);
    return {data, data + ASN1_STRING_length(ski)};
  }
  return key_identifier(ossl::to_der(X509_get_X509_PUBKEY(certificate), i2d_X509_PUBKEY,
                                                   "the certificate's public key"));
}

UnsignedCertificate::UnsignedCertificate(ossl::Ptr<X509> certificate, ossl::Ptr<X509_ALGOR> algorithm,
                                         std::vector<std::uint8_t> tbs, ossl::Ptr<EVP_PKEY> issuer_key)
    : certificate_(std::move(certificate)),
      algorithm_(std::move(algorithm)),
      tbs_(std::move(tbs)),
      issuer_key_(std::move(issuer_key)) {}

UnsignedCertificate prepare_certificate(const CertificateSpec& spec, const IssuerSpec& issuer) {
  check_spec(spec, issuer);
  ossl::Ptr<X509> certificate(X509_new());
  ossl::Ptr<EVP_PKEY> subject_key = held_or_parsed_key(spec.subject_key, spec.subject_public_key, "the subject's");
  ossl::Ptr<EVP_PKEY> issuer_key = held_or_parsed_key(issuer.key, issuer.public_key, "the issuer's");
  ossl::Ptr<BIGNUM> serial_number(BN_bin2bn(spec.serial.data(), static_cast<int>(spec.serial.size()), nullptr));
  if (!certificate || !serial_number || X509_set_version(certificate.get(), X509_VERSION_3) != 1 ||
      BN_to_ASN1_INTEGER(serial_number.get(), X509_get_serialNumber(certificate.get())) == nullptr ||
      X509_set_issuer_name(certificate.get(), issuer.name) != 1 ||
      X509_set_subject_name(certificate.get(), spec.subject.get()) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(certificate.get()), spec.not_before) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(certificate.get()), spec.not_after) == nullptr) {
    throw Error("building the certificate: " + ossl::last_error());
  }
  set_public_key_info(certificate.get(), spec.subject_public_key);

  ossl::Ptr<BASIC_CONSTRAINTS> constraints(BASIC_CONSTRAINTS_new());
  constraints->ca = spec.ca ? 0xFF : 0;
  if (spec.path_length) {
    constraints->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(constraints->pathlen, *spec.path_length);
  }
  add_extension(certificate.get(), NID_basic_constraints, constraints.get(), true, "basicConstraints");

  if (spec.key_usage != 0) {
    ossl::Ptr<ASN1_STRING> usage(ASN1_BIT_STRING_new());
    for (int bit = 0; bit < 9; ++bit) {
      if ((spec.key_usage & (1u << bit)) != 0) ASN1_BIT_STRING_set_bit(usage.get(), bit, 1);
    }
    add_extension(certificate.get(), NID_key_usage, usage.get(), true, "keyUsage");
  }

  if (!spec.extended_key_usage.empty()) {
    ossl::Ptr<EXTENDED_KEY_USAGE> usages(sk_ASN1_OBJECT_new_null());
    for (const std::string& usage : spec.extended_key_usage) sk_ASN1_OBJECT_push(usages.get(), object_of(usage).release());
    add_extension(certificate.get(), NID_ext_key_usage, usages.get(), false, "extendedKeyUsage");
  }
  if (!spec.san.empty()) {
    bool empty_subject = X509_NAME_entry_count(spec.subject.get()) == 0;
    add_extension(certificate.get(), NID_subject_alt_name, general_names(spec.san).get(), empty_subject,
                  "subjectAltName");
  }

  ossl::Ptr<ASN1_STRING> ski = octet_string(key_identifier(spec.subject_public_key));
  add_extension(certificate.get(), NID_subject_key_identifier, ski.get(), false, "subjectKeyIdentifier");
  ossl::Ptr<AUTHORITY_KEYID> aki(AUTHORITY_KEYID_new());
  aki->keyid = octet_string(issuer.key_identifier).release();
  add_extension(certificate.get(), NID_authority_key_identifier, aki.get(), false, "authorityKeyIdentifier");
  if (!spec.crl_urls.empty()) {
    add_configured_extension(certificate.get(), NID_crl_distribution_points, joined_urls("", spec.crl_urls),
                             "cRLDistributionPoints");
  }
  std::string access = joined_urls("OCSP;", spec.ocsp_urls);
  std::string issuers = joined_urls("caIssuers;", spec.ca_issuers_urls);
  if (!access.empty() || !issuers.empty()) {
    add_configured_extension(certificate.get(), NID_info_access,
                             access + (!access.empty() && !issuers.empty() ? "," : "") + issuers,
                             "authorityInfoAccess");
  }
  if (!spec.policies.empty()) {
    add_extension(certificate.get(), NID_certificate_policies, certificate_policies(spec.policies).get(), false,
                  "certificatePolicies");
  }
  for (const RequestedExtension& extra : spec.extra_extensions) replace_extension(certificate.get(), extra);
  for (const std::string& oid : spec.removed_extensions) remove_extension(certificate.get(), oid);
  check_certificate_rules(certificate.get(), spec, issuer);

  // The TBSCertificate carries its own copy of the signature algorithm.
  // OpenSSL has no setter for it short of signing with a key it holds, and
  // the CA key is never OpenSSL's; the field is a member of the X509 we own.
  ossl::Ptr<X509_ALGOR> algorithm = signature_algorithm(issuer.scheme);
  if (X509_ALGOR_copy(const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(certificate.get())), algorithm.get()) != 1) {
    throw Error("setting the certificate's signature algorithm: " + ossl::last_error());
  }
  // The TBS is whole: the linter sees exactly what the token will sign.
  if (std::vector<Finding> findings = lint_certificate(certificate.get(), subject_key.get()); has_errors(findings)) {
    throw LintRefusal(std::move(findings));
  }
  std::vector<std::uint8_t> tbs = ossl::to_der(certificate.get(), i2d_re_X509_tbs, "the TBSCertificate");
  return UnsignedCertificate(std::move(certificate), std::move(algorithm), std::move(tbs), std::move(issuer_key));
}

std::string UnsignedCertificate::serial() const { return serial_hex(certificate_.get()); }

std::vector<std::uint8_t> UnsignedCertificate::sign(const Signer& signer) && {
  std::vector<std::uint8_t> signature = signer(tbs_);

  // As for the TBS algorithm: the outer algorithm and signature are fields
  // of our own X509, filled in here because OpenSSL would only fill them
  // while signing with a private key it holds.
  const ASN1_BIT_STRING* signature_field = nullptr;
  const X509_ALGOR* algorithm_field = nullptr;
  X509_get0_signature(&signature_field, &algorithm_field, certificate_.get());
  auto* bits = const_cast<ASN1_BIT_STRING*>(signature_field);
  if (X509_ALGOR_copy(const_cast<X509_ALGOR*>(algorithm_field), algorithm_.get()) != 1 ||
      ASN1_BIT_STRING_set(bits, signature.data(), static_cast<int>(signature.size())) != 1) {
    throw Error("assembling the certificate: " + ossl::last_error());
  }
  bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);  // whole bytes: no unused bits
  bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;

  // The certificate as it will be stored must be one element that opens
  // with exactly the TBS that was checked and signed.
  constexpr const char* kNotChecked = "the signed TBSCertificate is not the one that was checked";
  std::vector<std::uint8_t> der = ossl::to_der(certificate_.get(), i2d_X509, "the certificate");
  const unsigned char* cursor = der.data();
  std::span<const std::uint8_t> whole =
      der_element(cursor, der.data() + der.size(), V_ASN1_SEQUENCE, false, kNotChecked);
  if (cursor != der.data() + der.size() || whole.size() < tbs_.size() ||
      !std::equal(tbs_.begin(), tbs_.end(), whole.begin())) {
    throw Error(kNotChecked);
  }
  // X509_verify checks the signature over the X509's own encoding of its
  // TBS, cached when prepare_certificate wrote tbs_.
  if (X509_verify(certificate_.get(), issuer_key_.get()) != 1) {
    throw Error("the token's signature does not verify under the issuer's public key: " + ossl::last_error());
  }
  return der;
}

std::vector<std::uint8_t> certificate_der(const X509* certificate) {
  return ossl::to_der(certificate, i2d_X509, "the certificate");
}

ossl::Ptr<X509> parse_certificate(std::span<const std::uint8_t> der, const std::string& what) {
  const unsigned char* cursor = der.data();
  ossl::Ptr<X509> certificate(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (!certificate || cursor != der.data() + der.size()) {
    throw Error(what + " is not one DER certificate: " + ossl::last_error());
  }
  return certificate;
}

std::string sha256_fingerprint(const X509* certificate) { return sha256_fingerprint(certificate_der(certificate)); }

std::string sha256_fingerprint(std::span<const std::uint8_t> certificate_der) {
  return to_hex(ossl::sha_digest("SHA256", certificate_der));
}

std::string certificate_serial_hex(std::span<const std::uint8_t> certificate_der) {
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
  // OPTIONAL, serialNumber INTEGER, … } … }
  constexpr const char* kNotCertificate = "not a DER certificate";
  const unsigned char* cursor = certificate_der.data();
  const unsigned char* end = cursor + certificate_der.size();
  der_element(cursor, end, V_ASN1_SEQUENCE, true, kNotCertificate);
  der_element(cursor, end, V_ASN1_SEQUENCE, true, kNotCertificate);
  const unsigned char* serial_at = cursor;
  long length = 0;
  int tag = 0;
  int tag_class = 0;
  if ((ASN1_get_object(&cursor, &length, &tag, &tag_class, end - cursor) & 0x80) != 0) throw Error(kNotCertificate);
  if (tag_class == V_ASN1_CONTEXT_SPECIFIC && tag == 0) serial_at = cursor + length;  // past the version
  ossl::Ptr<ASN1_INTEGER> serial(d2i_ASN1_INTEGER(nullptr, &serial_at, end - serial_at));
  if (!serial) throw Error(kNotCertificate);
  return serial_hex(serial.get());
}

std::string serial_hex(const X509* certificate) { return serial_hex(X509_get0_serialNumber(certificate)); }

std::string serial_hex(const ASN1_INTEGER* serial) {
  ossl::Ptr<BIGNUM> number(ASN1_INTEGER_to_BN(serial, nullptr));
  char* hex = number ? BN_bn2hex(number.get()) : nullptr;
  if (hex == nullptr) throw Error("writing a serial number as hex: " + ossl::last_error());
  std::string text = hex;
  OPENSSL_free(hex);
  return text;
}

namespace {

std::time_t to_time(const ASN1_TIME* time) {
  std::tm parts{};
  if (ASN1_TIME_to_tm(time, &parts) != 1) throw Error("reading a certificate's validity: " + ossl::last_error());
  return timegm(&parts);
}

}  // namespace

std::time_t validity_end(std::time_t not_before, std::int64_t days) {
  return not_before + static_cast<std::time_t>(days) * 86400 - 1;
}

std::time_t not_before_time(const X509* certificate) { return to_time(X509_get0_notBefore(certificate)); }

std::time_t not_after_time(const X509* certificate) { return to_time(X509_get0_notAfter(certificate)); }

bool due_for_renewal(const X509* certificate, std::time_t now) {
  std::time_t not_before = not_before_time(certificate);
  std::time_t not_after = not_after_time(certificate);
  return now > not_after - (not_after - not_before) / 3;
}

}  // namespace custos::x509
