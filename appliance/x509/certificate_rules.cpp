#include "appliance/x509/certificate_rules.h"

#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "common/error.h"

namespace custos::x509 {
namespace {

// "basicConstraints (2.5.29.19)", or the dotted form alone for an OID
// OpenSSL has no name for.
std::string describe(const ASN1_OBJECT* object) {
  char dotted[128];
  OBJ_obj2txt(dotted, sizeof dotted, object, 1);
  int nid = OBJ_obj2nid(object);
  return nid == NID_undef ? std::string(dotted) : std::string(OBJ_nid2sn(nid)) + " (" + dotted + ")";
}

std::span<const std::uint8_t> bytes_of(const ASN1_STRING* value) {
  return {ASN1_STRING_get0_data(value), static_cast<std::size_t>(ASN1_STRING_length(value))};
}

// A known extension must decode and encode back to the very bytes it came
// in: a value OpenSSL reads leniently (trailing bytes, a non-minimal
// length) would otherwise reach relying parties that read it differently.
void check_decodes_as_der(X509_EXTENSION* extension) {
  const X509V3_EXT_METHOD* method = X509V3_EXT_get(extension);
  if (method == nullptr) return;  // unknown to OpenSSL: opaque, as RFC 5280 lets a non-critical extension be
  std::string name = describe(X509_EXTENSION_get_object(extension));
  void* value = X509V3_EXT_d2i(extension);
  if (value == nullptr) throw Error("the extension " + name + " does not decode: " + ossl::last_error());
  std::span<const std::uint8_t> der = bytes_of(X509_EXTENSION_get_data(extension));
  bool same = true;
  if (method->it != nullptr) {
    unsigned char* encoded = nullptr;
    int length = ASN1_item_i2d(static_cast<ASN1_VALUE*>(value), &encoded, ASN1_ITEM_ptr(method->it));
    same = length == static_cast<int>(der.size()) && std::memcmp(encoded, der.data(), der.size()) == 0;
    OPENSSL_free(encoded);
    ASN1_item_free(static_cast<ASN1_VALUE*>(value), ASN1_ITEM_ptr(method->it));
  } else {
    method->ext_free(value);
  }
  if (!same) throw Error("the extension " + name + " is not in DER (RFC 5280 §4.1)");
}

void check_extensions_are_single_and_der(X509* certificate) {
  int count = X509_get_ext_count(certificate);
  for (int i = 0; i < count; ++i) {
    const ASN1_OBJECT* object = X509_EXTENSION_get_object(X509_get_ext(certificate, i));
    for (int j = i + 1; j < count; ++j) {
      if (OBJ_cmp(object, X509_EXTENSION_get_object(X509_get_ext(certificate, j))) == 0) {
        throw Error("the extension " + describe(object) + " appears twice (RFC 5280 §4.2)");
      }
    }
    check_decodes_as_der(X509_get_ext(certificate, i));
  }
}

// X509_get_ext_d2i, owned, after check_extensions_are_single_and_der has
// ruled out duplicates and undecodable values; null when absent. Reads the
// extension itself: OpenSSL's cached flags (X509_get_key_usage, …) are not
// computed for a certificate that is still being built.
template <typename T>
ossl::Ptr<T> extension_value(X509* certificate, int nid, int* critical = nullptr) {
  int found = -1;
  ossl::Ptr<T> value(static_cast<T*>(X509_get_ext_d2i(certificate, nid, &found, nullptr)));
  if (critical != nullptr) *critical = found;
  return value;
}

void check_basic_constraints(X509* certificate, const CertificateSpec& spec) {
  int critical = -1;
  ossl::Ptr<BASIC_CONSTRAINTS> constraints = extension_value<BASIC_CONSTRAINTS>(certificate, NID_basic_constraints, &critical);
  if (!constraints) throw Error("the certificate has no basicConstraints");
  if (critical != 1) throw Error("basicConstraints must be critical");
  bool ca = constraints->ca != 0;
  if (ca != spec.ca) {
    throw Error(spec.ca ? "the certificate of a CA profile must have CA:TRUE in its basicConstraints"
                        : "the profile issues end-entity certificates: basicConstraints must say CA:FALSE");
  }
  std::optional<long> path_length;
  if (constraints->pathlen != nullptr) path_length = ASN1_INTEGER_get(constraints->pathlen);
  std::optional<long> expected;
  if (spec.path_length) expected = *spec.path_length;
  if (path_length != expected) throw Error("basicConstraints carries a path length other than the engine's");
}

void check_key_identifiers(X509* certificate, const CertificateSpec& spec, const IssuerSpec& issuer) {
  ossl::Ptr<ASN1_STRING> subject_id = extension_value<ASN1_STRING>(certificate, NID_subject_key_identifier);
  std::vector<std::uint8_t> expected = key_identifier(spec.subject_public_key);
  if (!subject_id || !std::ranges::equal(bytes_of(subject_id.get()), expected)) {
    throw Error("the subjectKeyIdentifier must be the engine's, the SHA-1 of the subject's key");
  }
  ossl::Ptr<AUTHORITY_KEYID> authority_id = extension_value<AUTHORITY_KEYID>(certificate, NID_authority_key_identifier);
  if (!authority_id || authority_id->keyid == nullptr || authority_id->issuer != nullptr ||
      authority_id->serial != nullptr || !std::ranges::equal(bytes_of(authority_id->keyid), issuer.key_identifier)) {
    throw Error("the authorityKeyIdentifier must be the engine's: the issuer's key identifier and nothing else");
  }
}

// keyUsage is a named bit list: DER leaves no trailing zero bit (X.690
// §11.2.2), and RFC 5280 defines bits 0 to 8 and wants at least one set.
void check_key_usage(X509* certificate, const CertificateSpec& spec) {
  ossl::Ptr<ASN1_STRING> usage = extension_value<ASN1_STRING>(certificate, NID_key_usage);
  if (!usage) {
    if (spec.ca) throw Error("a CA certificate must have keyUsage with keyCertSign (RFC 5280 §4.2.1.3)");
    return;
  }
  std::span<const std::uint8_t> bits = bytes_of(usage.get());
  int unused = (usage->flags & ASN1_STRING_FLAG_BITS_LEFT) != 0 ? static_cast<int>(usage->flags & 0x07) : 0;
  if (bits.empty() || bits.back() == 0) throw Error("keyUsage has no bit set");
  if ((bits.back() & (1u << unused)) == 0) throw Error("keyUsage is not in DER: it ends in a zero bit");
  if (bits.size() > 2 || (bits.size() == 2 && bits[1] != 0x80)) throw Error("keyUsage sets bits RFC 5280 does not define");
  bool cert_sign = ASN1_BIT_STRING_get_bit(usage.get(), 5) != 0;
  bool crl_sign = ASN1_BIT_STRING_get_bit(usage.get(), 6) != 0;
  if (spec.ca && !cert_sign) throw Error("a CA certificate must have keyCertSign in its key usage");
  if (!spec.ca && (cert_sign || crl_sign)) {
    throw Error("only a CA certificate may have keyCertSign or cRLSign in its key usage");
  }
}

// The profile's extendedKeyUsage is the most a certificate may have: a
// verdict or an edit may narrow it, never widen it or take it away. A
// profile without one lets purposes be added, except the two that act for
// the CA or for every purpose.
void check_extended_key_usage(X509* certificate, const CertificateSpec& spec) {
  std::vector<ossl::Ptr<ASN1_OBJECT>> allowed;
  for (const std::string& name : spec.extended_key_usage) {
    ossl::Ptr<ASN1_OBJECT> object(OBJ_txt2obj(name.c_str(), 0));
    if (!object) throw Error("the profile's extended key usage '" + name + "' is not known");
    allowed.push_back(std::move(object));
  }
  int critical = -1;
  ossl::Ptr<EXTENDED_KEY_USAGE> usages = extension_value<EXTENDED_KEY_USAGE>(certificate, NID_ext_key_usage, &critical);
  if (!usages) {
    if (!allowed.empty()) throw Error("the profile's extendedKeyUsage cannot be removed");
    return;
  }
  if (sk_ASN1_OBJECT_num(usages.get()) == 0) throw Error("extendedKeyUsage names no purpose");
  for (int i = 0; i < sk_ASN1_OBJECT_num(usages.get()); ++i) {
    const ASN1_OBJECT* purpose = sk_ASN1_OBJECT_value(usages.get(), i);
    bool listed = std::ranges::any_of(allowed, [&](const auto& object) { return OBJ_cmp(object.get(), purpose) == 0; });
    if (listed) continue;
    int nid = OBJ_obj2nid(purpose);
    if (!allowed.empty() || nid == NID_OCSP_sign || nid == NID_anyExtendedKeyUsage) {
      throw Error("the extended key usage " + describe(purpose) + " is not one the profile grants");
    }
  }
}

// What a certificate may be used for is said by extendedKeyUsage, which
// the profile bounds, and by nothing else: Microsoft's Application
// Policies (1.3.6.1.4.1.311.21.10), which Windows honours like an EKU,
// would carry usages past that bound.
void check_no_other_usage_extension(X509* certificate) {
  ossl::Ptr<ASN1_OBJECT> application_policies(OBJ_txt2obj("1.3.6.1.4.1.311.21.10", 1));
  if (X509_get_ext_by_OBJ(certificate, application_policies.get(), -1) >= 0) {
    throw Error("Application Policies (1.3.6.1.4.1.311.21.10) would name usages beside the profile's extended key usage");
  }
}

// A profile's certificatePolicies are the ones the CA vouches for: a
// verdict or an edit may keep fewer, not name others.
void check_policies(X509* certificate, const CertificateSpec& spec) {
  if (spec.policies.empty()) return;
  ossl::Ptr<CERTIFICATEPOLICIES> policies(
      static_cast<CERTIFICATEPOLICIES*>(X509_get_ext_d2i(certificate, NID_certificate_policies, nullptr, nullptr)));
  for (int i = 0; policies && i < sk_POLICYINFO_num(policies.get()); ++i) {
    const ASN1_OBJECT* policy = sk_POLICYINFO_value(policies.get(), i)->policyid;
    bool granted = std::ranges::any_of(spec.policies, [&](const CertificatePolicy& allowed) {
      ossl::Ptr<ASN1_OBJECT> object(OBJ_txt2obj(allowed.oid.c_str(), 1));
      return object && OBJ_cmp(object.get(), policy) == 0;
    });
    if (!granted) throw Error("the certificate policy " + describe(policy) + " is not one the profile grants");
  }
}

void check_ca_only_extensions(X509* certificate, const CertificateSpec& spec) {
  if (spec.ca) return;
  for (int nid : {NID_name_constraints, NID_policy_constraints, NID_inhibit_any_policy}) {
    if (X509_get_ext_by_NID(certificate, nid, -1) >= 0) {
      throw Error(std::string("only a CA certificate may carry ") + OBJ_nid2sn(nid) + " (RFC 5280 §4.2.1.10-14)");
    }
  }
}

void check_names(X509* certificate, const CertificateSpec& spec, const IssuerSpec& issuer) {
  const X509_NAME* subject = X509_get_subject_name(certificate);
  bool self_signed = spec.subject_public_key == issuer.public_key;
  if (!self_signed && X509_NAME_entry_count(subject) > 0 && X509_NAME_cmp(subject, issuer.name) == 0) {
    throw Error("the certificate would bear its issuer's name; only the CA's own certificate may");
  }
  if (X509_NAME_entry_count(subject) == 0 && X509_get_ext_by_NID(certificate, NID_subject_alt_name, -1) < 0) {
    throw Error("a certificate with an empty subject needs a subjectAltName");
  }
  if (issuer.name_constraints != nullptr) {
    int result = NAME_CONSTRAINTS_check(certificate, const_cast<NAME_CONSTRAINTS*>(issuer.name_constraints));
    if (result != X509_V_OK) {
      throw Error(std::string("the certificate breaks the CA's name constraints: ") +
                  X509_verify_cert_error_string(result));
    }
  }
}

}  // namespace

void check_certificate_rules(X509* certificate, const CertificateSpec& spec, const IssuerSpec& issuer) {
  check_extensions_are_single_and_der(certificate);
  check_basic_constraints(certificate, spec);
  check_key_identifiers(certificate, spec, issuer);
  check_key_usage(certificate, spec);
  check_extended_key_usage(certificate, spec);
  check_no_other_usage_extension(certificate);
  check_policies(certificate, spec);
  check_ca_only_extensions(certificate, spec);
  check_names(certificate, spec, issuer);
}

}  // namespace custos::x509
