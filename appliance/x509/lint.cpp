#include "appliance/x509/lint.h"

#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "appliance/x509/certificate.h"
#include "common/clock.h"

namespace custos::x509 {
namespace {

// Where a rule applies.
enum class Scope {
  kAll,         // every certificate
  kServerLeaf,  // a TLS subscriber certificate: EKU serverAuth, not a CA
  kTlsCa,       // a CA certificate whose EKU names serverAuth
  kTls,            // either
  kOcspResponder,  // a certificate with EKU OCSPSigning: a delegated responder's
};

// What the rules look at, decoded once from the extensions themselves (a
// certificate under construction has no cached flags).
struct CertificateFacts {
  X509* certificate = nullptr;
  EVP_PKEY* subject_key = nullptr;  // null when it does not decode
  bool ca = false;
  bool self_issued = false;
  bool tls = false;
  bool ocsp_responder = false;
  std::optional<unsigned> key_usage;  // bit i = KeyUsage bit i (digitalSignature = 0)
  int key_usage_critical = -1;
  std::vector<const ASN1_OBJECT*> extended_key_usage;
  ossl::Ptr<EXTENDED_KEY_USAGE> eku_owner;
  ossl::Ptr<GENERAL_NAMES> san;
  std::time_t not_before = 0;
  std::time_t not_after = 0;

  bool server_leaf() const { return tls && !ca; }
  bool has_extension(int nid) const { return X509_get_ext_by_NID(certificate, nid, -1) >= 0; }
  bool usage(int bit) const { return key_usage && (*key_usage & (1u << bit)) != 0; }
};

std::time_t time_of(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return 0;
  return timegm(&parts);
}

CertificateFacts facts_of(X509* certificate, EVP_PKEY* subject_key) {
  CertificateFacts facts;
  facts.certificate = certificate;
  facts.subject_key = subject_key != nullptr ? subject_key : X509_get0_pubkey(certificate);
  ossl::Ptr<BASIC_CONSTRAINTS> constraints(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(certificate, NID_basic_constraints, nullptr, nullptr)));
  facts.ca = constraints && constraints->ca != 0;
  facts.self_issued = X509_NAME_cmp(X509_get_subject_name(certificate), X509_get_issuer_name(certificate)) == 0;
  ossl::Ptr<ASN1_STRING> usage(
      static_cast<ASN1_STRING*>(X509_get_ext_d2i(certificate, NID_key_usage, &facts.key_usage_critical, nullptr)));
  if (usage) {
    unsigned bits = 0;
    for (int bit = 0; bit < 9; ++bit) bits |= ASN1_BIT_STRING_get_bit(usage.get(), bit) != 0 ? 1u << bit : 0;
    facts.key_usage = bits;
  }
  facts.eku_owner.reset(static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(certificate, NID_ext_key_usage, nullptr, nullptr)));
  if (facts.eku_owner) {
    for (int i = 0; i < sk_ASN1_OBJECT_num(facts.eku_owner.get()); ++i) {
      const ASN1_OBJECT* purpose = sk_ASN1_OBJECT_value(facts.eku_owner.get(), i);
      facts.extended_key_usage.push_back(purpose);
      facts.tls = facts.tls || OBJ_obj2nid(purpose) == NID_server_auth;
      facts.ocsp_responder = facts.ocsp_responder || OBJ_obj2nid(purpose) == NID_OCSP_sign;
    }
  }
  facts.san.reset(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  facts.not_before = time_of(X509_get0_notBefore(certificate));
  facts.not_after = time_of(X509_get0_notAfter(certificate));
  return facts;
}

std::string text_of(const ASN1_STRING* value) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)), static_cast<std::size_t>(ASN1_STRING_length(value))};
}

// RFC 1034 §3.5 preferred name syntax as RFC 5280 §4.2.1.6 asks of a
// dNSName, with a wildcard allowed as the whole leftmost label only.
std::optional<std::string> dns_name_problem(const std::string& name) {
  if (name.empty() || name.size() > 253) return "is empty or longer than 253 characters";
  if (name.back() == '.') return "ends in a dot";
  std::size_t start = 0;
  for (int label = 0;; ++label) {
    std::size_t dot = name.find('.', start);
    std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || part.size() > 63) return "has an empty label or one longer than 63 characters";
    bool wildcard = part == "*" && label == 0 && dot != std::string::npos;
    if (!wildcard) {
      bool letters_digits_hyphens = std::all_of(part.begin(), part.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
      });
      if (!letters_digits_hyphens) return "has a label that is not letters, digits and hyphens";
      if (part.front() == '-' || part.back() == '-') return "has a label that starts or ends with a hyphen";
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return std::nullopt;
}

bool has_policy(const CertificateFacts& facts, const char* oid) {
  ossl::Ptr<CERTIFICATEPOLICIES> policies(static_cast<CERTIFICATEPOLICIES*>(
      X509_get_ext_d2i(facts.certificate, NID_certificate_policies, nullptr, nullptr)));
  for (int i = 0; policies && i < sk_POLICYINFO_num(policies.get()); ++i) {
    char dotted[128];
    OBJ_obj2txt(dotted, sizeof dotted, sk_POLICYINFO_value(policies.get(), i)->policyid, 1);
    if (std::strcmp(dotted, oid) == 0) return true;
  }
  return false;
}

using Check = std::optional<std::string> (*)(const CertificateFacts&);

struct CertificateRule {
  const char* name;
  const char* clause;
  Severity severity;
  Scope scope;
  Check check;
};

// The certificate rules, one per clause, in the order of the documents.
const CertificateRule kCertificateRules[] = {
    {"rfc5280_4_1_2_1_version", "RFC 5280 4.1.2.1", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (X509_get_ext_count(facts.certificate) > 0 && X509_get_version(facts.certificate) != X509_VERSION_3) {
         return "a certificate with extensions must be version 3";
       }
       return std::nullopt;
     }},
    {"rfc5280_4_1_2_2_serial_number", "RFC 5280 4.1.2.2", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       const ASN1_INTEGER* serial = X509_get0_serialNumber(facts.certificate);
       if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER) return "the serial number is negative";
       if (ASN1_STRING_length(serial) > 20) return "the serial number is longer than 20 octets";
       const unsigned char* bytes = ASN1_STRING_get0_data(serial);
       if (std::all_of(bytes, bytes + ASN1_STRING_length(serial), [](unsigned char b) { return b == 0; })) {
         return "the serial number is zero";
       }
       return std::nullopt;
     }},
    {"br_7_1_serial_number_entropy", "BR 7.1", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (ASN1_STRING_length(X509_get0_serialNumber(facts.certificate)) < 9) {
         return "the serial number is shorter than 9 octets: too short for 64 bits from a CSPRNG";
       }
       return std::nullopt;
     }},
    {"rfc5280_4_1_2_5_validity", "RFC 5280 4.1.2.5", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (facts.not_after <= facts.not_before) return "notAfter is not after notBefore";
       for (const ASN1_TIME* time : {X509_get0_notBefore(facts.certificate), X509_get0_notAfter(facts.certificate)}) {
         bool before_2050 = time_of(time) < parse_rfc3339("2050-01-01T00:00:00Z");
         if ((ASN1_STRING_type(time) == V_ASN1_UTCTIME) != before_2050) {
           return "dates before 2050 are UTCTime, from 2050 GeneralizedTime";
         }
       }
       return std::nullopt;
     }},
    {"br_6_3_2_subscriber_validity", "BR 6.3.2", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       // Both ends count: N days are N × 86400 seconds, notAfter included.
       long long seconds = static_cast<long long>(facts.not_after - facts.not_before) + 1;
       int maximum = br_max_subscriber_validity_days(facts.not_before);
       if (seconds > static_cast<long long>(maximum) * 86400) {
         return "the validity is " + std::to_string(seconds) + " seconds, over the " + std::to_string(maximum) +
                " days allowed on its notBefore";
       }
       return std::nullopt;
     }},
    {"rfc5280_4_1_2_6_empty_subject_needs_critical_san", "RFC 5280 4.1.2.6, 4.2.1.6", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (X509_NAME_entry_count(X509_get_subject_name(facts.certificate)) > 0) return std::nullopt;
       int index = X509_get_ext_by_NID(facts.certificate, NID_subject_alt_name, -1);
       if (index < 0 || X509_EXTENSION_get_critical(X509_get_ext(facts.certificate, index)) == 0) {
         return "an empty subject needs a critical subjectAltName";
       }
       return std::nullopt;
     }},
    {"rfc5280_4_1_2_6_directory_string", "RFC 5280 4.1.2.6, 4.1.2.4", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       const X509_NAME* subject = X509_get_subject_name(facts.certificate);
       for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
         const X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, i);
         int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
         const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
         int type = ASN1_STRING_type(value);
         if (nid == NID_countryName) {
           if (type != V_ASN1_PRINTABLESTRING || ASN1_STRING_length(value) != 2) {
             return "countryName must be two letters in a PrintableString";
           }
         } else if (nid != NID_domainComponent && nid != NID_pkcs9_emailAddress && nid != NID_serialNumber &&
                    type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING) {
           return std::string(OBJ_nid2sn(nid)) + " must be a PrintableString or UTF8String";
         }
       }
       return std::nullopt;
     }},
    {"br_7_1_4_2_attribute_order", "BR 7.1.4.2", Severity::kWarning, Scope::kTls,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       // The order the BR recommend, most general first.
       static const int kOrder[] = {NID_domainComponent,        NID_countryName,      NID_stateOrProvinceName,
                                    NID_localityName,           NID_postalCode,       NID_streetAddress,
                                    NID_organizationName,       NID_surname,          NID_givenName,
                                    NID_organizationalUnitName, NID_commonName};
       const X509_NAME* subject = X509_get_subject_name(facts.certificate);
       long previous = -1;
       for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
         int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(subject, i)));
         const int* at = std::find(std::begin(kOrder), std::end(kOrder), nid);
         if (at == std::end(kOrder)) continue;
         long place = at - std::begin(kOrder);
         if (place < previous) return "the subject's attributes are not in the recommended order (C, ST, L, O, OU, CN)";
         previous = place;
       }
       return std::nullopt;
     }},
    {"rfc5280_4_2_single_extensions", "RFC 5280 4.2", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       int count = X509_get_ext_count(facts.certificate);
       for (int i = 0; i < count; ++i) {
         for (int j = i + 1; j < count; ++j) {
           if (OBJ_cmp(X509_EXTENSION_get_object(X509_get_ext(facts.certificate, i)),
                       X509_EXTENSION_get_object(X509_get_ext(facts.certificate, j))) == 0) {
             return "an extension appears twice";
           }
         }
       }
       return std::nullopt;
     }},
    {"rfc5280_4_2_1_1_authority_key_identifier", "RFC 5280 4.2.1.1", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       int index = X509_get_ext_by_NID(facts.certificate, NID_authority_key_identifier, -1);
       if (index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(facts.certificate, index)) != 0) {
         return "authorityKeyIdentifier must not be critical";
       }
       if (facts.self_issued) return std::nullopt;
       ossl::Ptr<AUTHORITY_KEYID> identifier(static_cast<AUTHORITY_KEYID*>(
           X509_get_ext_d2i(facts.certificate, NID_authority_key_identifier, nullptr, nullptr)));
       if (!identifier || identifier->keyid == nullptr) return "a certificate the CA issued needs an AKI keyIdentifier";
       return std::nullopt;
     }},
    {"rfc5280_4_2_1_2_subject_key_identifier", "RFC 5280 4.2.1.2", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       int index = X509_get_ext_by_NID(facts.certificate, NID_subject_key_identifier, -1);
       if (index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(facts.certificate, index)) != 0) {
         return "subjectKeyIdentifier must not be critical";
       }
       if (facts.ca && index < 0) return "a CA certificate needs a subjectKeyIdentifier";
       return std::nullopt;
     }},
    {"rfc5280_4_2_1_3_key_usage", "RFC 5280 4.2.1.3", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (facts.key_usage && *facts.key_usage == 0) return "keyUsage names no usage";
       if (facts.ca && !facts.usage(5)) return "a CA certificate needs keyUsage with keyCertSign";
       if (!facts.ca && facts.usage(5)) return "keyCertSign needs basicConstraints CA:TRUE";
       if (facts.usage(7) && !facts.usage(4)) return "encipherOnly needs keyAgreement";
       if (facts.usage(8) && !facts.usage(4)) return "decipherOnly needs keyAgreement";
       return std::nullopt;
     }},
    {"rfc5280_4_2_1_3_key_usage_critical", "RFC 5280 4.2.1.3", Severity::kWarning, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (facts.key_usage && facts.key_usage_critical != 1) return "keyUsage should be critical";
       return std::nullopt;
     }},
    {"rfc5280_4_2_1_6_subject_alt_name", "RFC 5280 4.2.1.6", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (!facts.has_extension(NID_subject_alt_name)) return std::nullopt;
       if (!facts.san || sk_GENERAL_NAME_num(facts.san.get()) == 0) return "subjectAltName names nothing";
       for (int i = 0; i < sk_GENERAL_NAME_num(facts.san.get()); ++i) {
         const GENERAL_NAME* name = sk_GENERAL_NAME_value(facts.san.get(), i);
         if (name->type != GEN_DNS) continue;
         std::string value = text_of(name->d.dNSName);
         if (std::optional<std::string> problem = dns_name_problem(value)) return "the dNSName '" + value + "' " + *problem;
       }
       return std::nullopt;
     }},
    {"rfc5280_4_2_1_9_basic_constraints", "RFC 5280 4.2.1.9", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       int index = X509_get_ext_by_NID(facts.certificate, NID_basic_constraints, -1);
       if (facts.ca && X509_EXTENSION_get_critical(X509_get_ext(facts.certificate, index)) == 0) {
         return "a CA certificate's basicConstraints must be critical";
       }
       ossl::Ptr<BASIC_CONSTRAINTS> constraints(
           static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(facts.certificate, NID_basic_constraints, nullptr, nullptr)));
       if (constraints && constraints->pathlen != nullptr && (!facts.ca || !facts.usage(5))) {
         return "a path length needs CA:TRUE and keyCertSign";
       }
       return std::nullopt;
     }},
    {"rfc5280_4_2_1_10_name_constraints_ca_only", "RFC 5280 4.2.1.10", Severity::kError, Scope::kAll,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (!facts.ca && facts.has_extension(NID_name_constraints)) return "nameConstraints belongs in CA certificates only";
       return std::nullopt;
     }},
    {"br_7_1_2_7_2_common_name_in_san", "BR 7.1.2.7.2", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       const X509_NAME* subject = X509_get_subject_name(facts.certificate);
       for (int index = -1; (index = X509_NAME_get_index_by_NID(subject, NID_commonName, index)) >= 0;) {
         std::string common_name = text_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
         bool listed = false;
         for (int i = 0; facts.san && i < sk_GENERAL_NAME_num(facts.san.get()); ++i) {
           const GENERAL_NAME* name = sk_GENERAL_NAME_value(facts.san.get(), i);
           if (name->type == GEN_DNS) listed = listed || text_of(name->d.dNSName) == common_name;
           if (name->type == GEN_IPADD) {
             ossl::Ptr<ASN1_STRING> address(a2i_IPADDRESS(common_name.c_str()));
             listed = listed || (address && ASN1_STRING_cmp(address.get(), name->d.iPAddress) == 0);
           }
         }
         if (!listed) return "the commonName '" + common_name + "' is not one of the subjectAltName's values";
       }
       return std::nullopt;
     }},
    {"br_7_1_2_7_2_domain_validated_subject", "BR 7.1.2.7.2", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (!has_policy(facts, "2.23.140.1.2.1")) return std::nullopt;
       const X509_NAME* subject = X509_get_subject_name(facts.certificate);
       for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
         int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(subject, i)));
         if (nid != NID_commonName && nid != NID_countryName) {
           return std::string("a domain-validated certificate's subject holds commonName and countryName only, not ") +
                  OBJ_nid2sn(nid);
         }
       }
       return std::nullopt;
     }},
    {"br_7_1_2_7_12_subject_alt_name", "BR 7.1.2.7.12", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (!facts.san || sk_GENERAL_NAME_num(facts.san.get()) == 0) return "a TLS server certificate needs a subjectAltName";
       for (int i = 0; i < sk_GENERAL_NAME_num(facts.san.get()); ++i) {
         int type = sk_GENERAL_NAME_value(facts.san.get(), i)->type;
         if (type != GEN_DNS && type != GEN_IPADD) return "a TLS server certificate's subjectAltName holds only dNSName and iPAddress";
       }
       return std::nullopt;
     }},
    {"br_7_1_2_7_9_certificate_policies", "BR 7.1.2.7.9", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       ossl::Ptr<CERTIFICATEPOLICIES> policies(static_cast<CERTIFICATEPOLICIES*>(
           X509_get_ext_d2i(facts.certificate, NID_certificate_policies, nullptr, nullptr)));
       if (!policies) return "a TLS server certificate needs certificatePolicies with a CA/Browser Forum policy";
       int reserved = 0;
       for (int i = 0; i < sk_POLICYINFO_num(policies.get()); ++i) {
         char dotted[128];
         OBJ_obj2txt(dotted, sizeof dotted, sk_POLICYINFO_value(policies.get(), i)->policyid, 1);
         if (std::string(dotted).starts_with("2.23.140.1.")) ++reserved;
       }
       if (reserved != 1) return "certificatePolicies must hold exactly one CA/Browser Forum reserved policy (2.23.140.1.…)";
       return std::nullopt;
     }},
    {"br_7_1_2_7_10_extended_key_usage", "BR 7.1.2.7.10", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       for (const ASN1_OBJECT* purpose : facts.extended_key_usage) {
         int nid = OBJ_obj2nid(purpose);
         if (nid != NID_server_auth && nid != NID_client_auth) {
           return std::string("a TLS server certificate's EKU holds serverAuth and clientAuth only, not ") +
                  (nid == NID_undef ? "an unknown purpose" : OBJ_nid2sn(nid));
         }
       }
       return std::nullopt;
     }},
    {"br_7_1_2_7_11_key_usage", "BR 7.1.2.7.11", Severity::kError, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (!facts.key_usage || facts.subject_key == nullptr) return std::nullopt;  // br_7_1_3_1 says it does not decode
       int key_type = EVP_PKEY_get_base_id(facts.subject_key);
       // digitalSignature for every key; keyEncipherment for RSA; keyAgreement for EC.
       unsigned allowed = 1u << 0;
       if (key_type == EVP_PKEY_RSA) allowed |= 1u << 2;
       if (key_type == EVP_PKEY_EC) allowed |= 1u << 4;
       if ((*facts.key_usage & ~allowed) != 0) return "a key usage the subscriber's key type does not allow";
       return std::nullopt;
     }},
    {"br_7_1_2_11_2_revocation_pointer", "BR 7.1.2.11.2, 7.1.2.7.7", Severity::kWarning, Scope::kServerLeaf,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (!facts.has_extension(NID_crl_distribution_points) && !facts.has_extension(NID_info_access)) {
         return "no cRLDistributionPoints and no OCSP pointer: relying parties cannot check revocation";
       }
       return std::nullopt;
     }},
    {"br_7_1_3_1_subject_public_key", "BR 7.1.3.1", Severity::kError, Scope::kTls,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       EVP_PKEY* key = facts.subject_key;
       if (key == nullptr) return "the subject public key does not decode";
       int type = EVP_PKEY_get_base_id(key);
       if (type == EVP_PKEY_RSA) {
         int bits = EVP_PKEY_get_bits(key);
         if (bits < 2048 || bits % 8 != 0) return "an RSA key must be at least 2048 bits, a multiple of 8";
         return std::nullopt;
       }
       if (type == EVP_PKEY_EC) {
         char curve[64] = {};
         std::size_t length = 0;
         EVP_PKEY_get_group_name(key, curve, sizeof curve, &length);
         std::string name(curve);
         if (name == "prime256v1" || name == "secp384r1" || name == "secp521r1") return std::nullopt;
         return "an ECDSA key must be on P-256, P-384 or P-521, not " + (name.empty() ? std::string("explicit parameters") : name);
       }
       return "the BR allow RSA and ECDSA keys only, not " + std::string(OBJ_nid2sn(type));
     }},
    {"br_7_1_3_2_signature_algorithm", "BR 7.1.3.2", Severity::kError, Scope::kTls,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       const X509_ALGOR* algorithm = X509_get0_tbs_sigalg(facts.certificate);
       const ASN1_OBJECT* object = nullptr;
       int parameter_type = V_ASN1_UNDEF;
       X509_ALGOR_get0(&object, &parameter_type, nullptr, algorithm);
       int nid = OBJ_obj2nid(object);
       switch (nid) {
         case NID_ecdsa_with_SHA256:
         case NID_ecdsa_with_SHA384:
         case NID_ecdsa_with_SHA512:
           if (parameter_type != V_ASN1_UNDEF) return "an ECDSA AlgorithmIdentifier has no parameters";
           return std::nullopt;
         case NID_sha256WithRSAEncryption:
         case NID_sha384WithRSAEncryption:
         case NID_sha512WithRSAEncryption:
           if (parameter_type != V_ASN1_NULL) return "an RSA PKCS#1 AlgorithmIdentifier has NULL parameters";
           return std::nullopt;
         case NID_rsassaPss:
           if (parameter_type != V_ASN1_SEQUENCE) return "an RSASSA-PSS AlgorithmIdentifier needs its parameters";
           return std::nullopt;
         default:
           return "the BR allow ECDSA, RSA PKCS#1 and RSASSA-PSS signatures only, not " +
                  std::string(nid == NID_undef ? "an unknown algorithm" : OBJ_nid2sn(nid));
       }
     }},
    {"br_7_1_2_8_ocsp_responder", "BR 7.1.2.8, RFC 6960 4.2.2.2.1", Severity::kError, Scope::kOcspResponder,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       if (!facts.has_extension(NID_id_pkix_OCSP_noCheck)) return "a delegated OCSP responder's certificate carries ocsp-nocheck";
       if (facts.has_extension(NID_crl_distribution_points)) return "an OCSP responder's certificate has no cRLDistributionPoints";
       ossl::Ptr<AUTHORITY_INFO_ACCESS> access(
           static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(facts.certificate, NID_info_access, nullptr, nullptr)));
       for (int i = 0; access && i < sk_ACCESS_DESCRIPTION_num(access.get()); ++i) {
         if (OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(access.get(), i)->method) == NID_ad_OCSP) {
           return "an OCSP responder's certificate has no OCSP pointer";
         }
       }
       return std::nullopt;
     }},
    {"br_7_1_2_10_7_ca_key_usage", "BR 7.1.2.10.7", Severity::kError, Scope::kTlsCa,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       unsigned allowed = (1u << 0) | (1u << 5) | (1u << 6);
       if (!facts.usage(5) || !facts.usage(6)) return "a TLS CA certificate needs keyCertSign and cRLSign";
       if ((*facts.key_usage & ~allowed) != 0) return "a TLS CA certificate may have keyCertSign, cRLSign and digitalSignature only";
       return std::nullopt;
     }},
    {"br_7_1_2_10_6_ca_extended_key_usage", "BR 7.1.2.10.6", Severity::kError, Scope::kTlsCa,
     [](const CertificateFacts& facts) -> std::optional<std::string> {
       for (const ASN1_OBJECT* purpose : facts.extended_key_usage) {
         int nid = OBJ_obj2nid(purpose);
         if (nid == NID_anyExtendedKeyUsage || (nid != NID_server_auth && nid != NID_client_auth)) {
           return "a TLS CA certificate's EKU holds serverAuth and clientAuth only";
         }
       }
       return std::nullopt;
     }},
};

bool applies(Scope scope, const CertificateFacts& facts) {
  switch (scope) {
    case Scope::kAll:
      return true;
    case Scope::kServerLeaf:
      return facts.server_leaf();
    case Scope::kTlsCa:
      return facts.tls && facts.ca;
    case Scope::kTls:
      return facts.tls;
    case Scope::kOcspResponder:
      return facts.ocsp_responder;
  }
  return false;
}

Finding finding(const char* rule, const char* clause, Severity severity, std::string message) {
  return {rule, clause, severity, std::move(message)};
}

}  // namespace

std::string Finding::to_text() const {
  return std::string(severity == Severity::kError ? "error " : "warning ") + rule + " (" + clause + "): " + message;
}

bool has_errors(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::kError; });
}

namespace {

std::string refusal_text(const std::vector<Finding>& findings) {
  std::string text = "the linter refuses to have it signed:";
  for (const Finding& f : findings) {
    if (f.severity == Severity::kError) text += " " + f.to_text() + ";";
  }
  text.pop_back();
  return text;
}

}  // namespace

LintRefusal::LintRefusal(std::vector<Finding> findings) : Error(refusal_text(findings)), findings_(std::move(findings)) {}

int br_max_subscriber_validity_days(std::time_t when) {
  if (when >= parse_rfc3339("2029-03-15T00:00:00Z")) return 47;
  if (when >= parse_rfc3339("2027-03-15T00:00:00Z")) return 100;
  if (when >= parse_rfc3339("2026-03-15T00:00:00Z")) return 200;
  return 398;
}

std::vector<Finding> lint_certificate(X509* certificate, EVP_PKEY* subject_key) {
  CertificateFacts facts = facts_of(certificate, subject_key);
  std::vector<Finding> findings;
  for (const CertificateRule& rule : kCertificateRules) {
    if (!applies(rule.scope, facts)) continue;
    if (std::optional<std::string> problem = rule.check(facts)) {
      findings.push_back(finding(rule.name, rule.clause, rule.severity, *problem));
    }
  }
  return findings;
}

std::vector<Finding> lint_crl(X509_CRL* crl, bool tls) {
  std::vector<Finding> findings;
  std::time_t this_update = time_of(X509_CRL_get0_lastUpdate(crl));
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
  if (X509_CRL_get_version(crl) != X509_CRL_VERSION_2) {
    findings.push_back(finding("rfc5280_5_1_2_1_version", "RFC 5280 5.1.2.1", Severity::kError, "a CRL with extensions is version 2"));
  }
  if (next == nullptr) {
    findings.push_back(finding("rfc5280_5_1_2_5_next_update", "RFC 5280 5.1.2.5", Severity::kError, "a CRL needs nextUpdate"));
  } else if (time_of(next) <= this_update) {
    findings.push_back(finding("rfc5280_5_1_2_5_next_update", "RFC 5280 5.1.2.5", Severity::kError,
                               "nextUpdate is not after thisUpdate"));
  } else if (tls && time_of(next) - this_update > 10 * 86400) {
    findings.push_back(finding("br_4_9_7_crl_validity", "BR 4.9.7", Severity::kError,
                               "nextUpdate is more than ten days after thisUpdate"));
  }
  if (X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1) < 0) {
    findings.push_back(finding("rfc5280_5_2_1_authority_key_identifier", "RFC 5280 5.2.1", Severity::kError,
                               "a CRL needs an authorityKeyIdentifier"));
  }
  if (X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1) < 0) {
    findings.push_back(finding("rfc5280_5_2_3_crl_number", "RFC 5280 5.2.3", Severity::kError, "a CRL needs a cRLNumber"));
  }
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  std::time_t latest_revocation = this_update;
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    latest_revocation =
        std::max(latest_revocation, time_of(X509_REVOKED_get0_revocationDate(sk_X509_REVOKED_value(revoked, i))));
  }
  for (Finding& late : lint_crl_revocation_dates(latest_revocation, this_update)) findings.push_back(std::move(late));
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    X509_REVOKED* entry = sk_X509_REVOKED_value(revoked, i);
    ossl::Ptr<ASN1_STRING> reason(
        static_cast<ASN1_STRING*>(X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
    if (reason && ASN1_ENUMERATED_get(reason.get()) == 0) {
      findings.push_back(finding("rfc5280_5_3_1_reason_code", "RFC 5280 5.3.1", Severity::kWarning,
                                 "reasonCode unspecified should be left out"));
      break;
    }
  }
  return findings;
}

std::vector<Finding> lint_crl_revocation_dates(std::time_t latest_revocation, std::time_t this_update) {
  if (latest_revocation <= this_update) return {};
  return {finding("rfc5280_5_1_2_6_revocation_date", "RFC 5280 5.1.2.6", Severity::kError,
                  "an entry's revocationDate is after the CRL's thisUpdate")};
}

std::vector<Finding> lint_ocsp_validity(std::time_t this_update, std::time_t next_update, bool tls) {
  std::vector<Finding> findings;
  if (next_update <= this_update) {
    findings.push_back(finding("rfc6960_4_2_2_1_next_update", "RFC 6960 4.2.2.1", Severity::kError,
                               "nextUpdate is not after thisUpdate"));
  } else if (tls && (next_update - this_update < 8 * 3600 || next_update - this_update > 10 * 86400)) {
    findings.push_back(finding("br_4_9_10_ocsp_validity", "BR 4.9.10", Severity::kError,
                               "a TLS CA's OCSP response is valid for 8 hours to 10 days"));
  }
  return findings;
}

std::vector<std::pair<std::string, std::string>> lint_rules() {
  std::vector<std::pair<std::string, std::string>> rules;
  for (const CertificateRule& rule : kCertificateRules) rules.emplace_back(rule.name, rule.clause);
  for (const auto& [name, clause] :
       {std::pair{"rfc5280_5_1_2_1_version", "RFC 5280 5.1.2.1"}, std::pair{"rfc5280_5_1_2_5_next_update", "RFC 5280 5.1.2.5"},
        std::pair{"br_4_9_7_crl_validity", "BR 4.9.7"}, std::pair{"rfc5280_5_2_1_authority_key_identifier", "RFC 5280 5.2.1"},
        std::pair{"rfc5280_5_2_3_crl_number", "RFC 5280 5.2.3"}, std::pair{"rfc5280_5_1_2_6_revocation_date", "RFC 5280 5.1.2.6"},
        std::pair{"rfc5280_5_3_1_reason_code", "RFC 5280 5.3.1"}, std::pair{"rfc6960_4_2_2_1_next_update", "RFC 6960 4.2.2.1"},
        std::pair{"br_4_9_10_ocsp_validity", "BR 4.9.10"}}) {
    rules.emplace_back(name, clause);
  }
  return rules;
}

}  // namespace custos::x509
