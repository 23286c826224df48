// The pre-issuance linter (appliance/x509/lint.h): every rule fires on a
// certificate, CRL or OCSP validity that breaks its clause, and a
// well-formed TLS server certificate, TLS CA certificate and CRL pass. The
// certificates here are built in software by the test — an outside party's,
// handed to the linter as `custos lint` would be — never by Custos's CA key.
#include <gtest/gtest.h>

#include <openssl/x509v3.h>

#include <functional>

#include "appliance/x509/lint.h"
#include "common/clock.h"
#include "tests/support/requests.h"

namespace custos::x509 {
namespace {

const std::time_t kNotBefore = parse_rfc3339("2026-06-01T00:00:00Z");  // BR maximum then: 200 days

void set_extension(X509* certificate, int nid, const std::string& value, bool append = false) {
  if (!append) {
    for (int index; (index = X509_get_ext_by_NID(certificate, nid, -1)) >= 0;) {
      X509_EXTENSION_free(X509_delete_ext(certificate, index));
    }
  }
  X509V3_CTX context;
  X509V3_set_ctx(&context, nullptr, certificate, nullptr, nullptr, 0);
  ossl::Ptr<X509_EXTENSION> extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  ASSERT_TRUE(extension) << value << ": " << ossl::last_error();
  ASSERT_EQ(X509_add_ext(certificate, extension.get(), -1), 1);
}

void remove_extension(X509* certificate, int nid) {
  for (int index; (index = X509_get_ext_by_NID(certificate, nid, -1)) >= 0;) {
    X509_EXTENSION_free(X509_delete_ext(certificate, index));
  }
}

// certificatePolicies with one policy, built by hand: OpenSSL's text
// syntax for it needs a configuration database.
void set_policy(X509* certificate, const char* oid) {
  CERTIFICATEPOLICIES* policies = sk_POLICYINFO_new_null();
  POLICYINFO* info = POLICYINFO_new();
  info->policyid = OBJ_txt2obj(oid, 1);
  sk_POLICYINFO_push(policies, info);
  X509_add1_ext_i2d(certificate, NID_certificate_policies, policies, 0, X509V3_ADD_REPLACE);
  CERTIFICATEPOLICIES_free(policies);
}

void set_serial(X509* certificate, const std::vector<std::uint8_t>& bytes) {
  ossl::Ptr<BIGNUM> number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(certificate));
}

// A TLS server certificate as the BR want it, or (with `ca`) a TLS CA's.
ossl::Ptr<X509> certificate(bool ca, const std::function<void(X509*)>& change = {}) {
  static ossl::Ptr<EVP_PKEY> key = testing::ec_key("P-256");
  ossl::Ptr<X509> made(X509_new());
  X509* certificate = made.get();
  X509_set_version(certificate, X509_VERSION_3);
  set_serial(certificate, std::vector<std::uint8_t>(16, 0x5A));
  ossl::Ptr<X509_NAME> issuer(X509_NAME_new());
  X509_NAME_add_entry_by_txt(issuer.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Lint Issuer"), -1, -1, 0);
  X509_set_issuer_name(certificate, issuer.get());
  ossl::Ptr<X509_NAME> subject(X509_NAME_new());
  const char* name = ca ? "Lint Issuing CA" : "www.example.com";
  X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(name), -1, -1, 0);
  X509_set_subject_name(certificate, subject.get());
  ASN1_TIME_set(X509_getm_notBefore(certificate), kNotBefore);
  ASN1_TIME_set(X509_getm_notAfter(certificate), kNotBefore + (ca ? 1825 : 90) * 86400 - 1);
  X509_set_pubkey(certificate, key.get());
  set_extension(certificate, NID_basic_constraints, ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE");
  set_extension(certificate, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  set_extension(certificate, NID_ext_key_usage, ca ? "serverAuth,clientAuth" : "serverAuth");
  if (!ca) set_extension(certificate, NID_subject_alt_name, "DNS:www.example.com");
  set_extension(certificate, NID_subject_key_identifier, "hash");
  // The issuer's key identifier: any 20 bytes do for the linter.
  ossl::Ptr<AUTHORITY_KEYID> authority(AUTHORITY_KEYID_new());
  authority->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(authority->keyid, reinterpret_cast<const unsigned char*>("01234567890123456789"), 20);
  X509_add1_ext_i2d(certificate, NID_authority_key_identifier, authority.get(), 0, X509V3_ADD_REPLACE);
  set_policy(certificate, "2.23.140.1.2.1");
  set_extension(certificate, NID_crl_distribution_points, "URI:http://crl.example/ca.crl");
  // The TBS's signature algorithm, as a CA signing with P-256 writes it.
  X509_ALGOR_set0(const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(certificate)), OBJ_nid2obj(NID_ecdsa_with_SHA256),
                  V_ASN1_UNDEF, nullptr);
  if (change) change(certificate);
  return made;
}

std::vector<std::string> rules_of(const std::vector<Finding>& findings) {
  std::vector<std::string> rules;
  for (const Finding& finding : findings) rules.push_back(finding.rule);
  return rules;
}

TEST(Lint, WellFormedCertificatesAndTheirTlsRulesPass) {
  EXPECT_EQ(rules_of(lint_certificate(certificate(false).get())), std::vector<std::string>{});
  EXPECT_EQ(rules_of(lint_certificate(certificate(true).get())), std::vector<std::string>{});
  EXPECT_EQ(br_max_subscriber_validity_days(parse_rfc3339("2027-03-15T00:00:00Z")), 100);
}

struct Breach {
  std::string rule;
  bool ca;
  std::function<void(X509*)> change;
  Severity severity = Severity::kError;
};

void PrintTo(const Breach& breach, std::ostream* out) { *out << breach.rule; }

class RuleFires : public ::testing::TestWithParam<Breach> {};

TEST_P(RuleFires, OnACertificateThatBreaksItsClause) {
  const Breach& breach = GetParam();
  std::vector<Finding> findings = lint_certificate(certificate(breach.ca, breach.change).get());
  auto found = std::find_if(findings.begin(), findings.end(), [&](const Finding& f) { return f.rule == breach.rule; });
  ASSERT_NE(found, findings.end()) << ::testing::PrintToString(rules_of(findings));
  EXPECT_EQ(found->severity, breach.severity) << found->to_text();
  EXPECT_FALSE(found->clause.empty());
  EXPECT_EQ(has_errors(findings), breach.severity == Severity::kError || findings.size() > 1) << found->to_text();
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, RuleFires,
    ::testing::Values(
        Breach{"rfc5280_4_1_2_1_version", false, [](X509* c) { X509_set_version(c, X509_VERSION_1); }},
        Breach{"rfc5280_4_1_2_2_serial_number", false, [](X509* c) { set_serial(c, {0x00}); }},
        Breach{"br_7_1_serial_number_entropy", false, [](X509* c) { set_serial(c, {0x01, 0x02, 0x03, 0x04}); }},
        Breach{"rfc5280_4_1_2_5_validity", false, [](X509* c) { ASN1_TIME_set(X509_getm_notAfter(c), kNotBefore - 1); }},
        Breach{"br_6_3_2_subscriber_validity", false,
               [](X509* c) { ASN1_TIME_set(X509_getm_notAfter(c), kNotBefore + 200 * 86400); }},
        Breach{"rfc5280_4_1_2_6_empty_subject_needs_critical_san", false,
               [](X509* c) {
                 ossl::Ptr<X509_NAME> empty(X509_NAME_new());
                 X509_set_subject_name(c, empty.get());
               }},
        Breach{"rfc5280_4_1_2_6_directory_string", false,
               [](X509* c) {
                 // An IA5String organisation: neither PrintableString nor UTF8String.
                 X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "O", V_ASN1_IA5STRING,
                                            reinterpret_cast<const unsigned char*>("Example"), -1, -1, 0);
               }},
        Breach{"rfc5280_4_2_single_extensions", false,
               [](X509* c) { set_extension(c, NID_subject_alt_name, "DNS:www.example.com", true); }},
        Breach{"rfc5280_4_2_1_1_authority_key_identifier", false,
               [](X509* c) { remove_extension(c, NID_authority_key_identifier); }},
        Breach{"rfc5280_4_2_1_2_subject_key_identifier", true,
               [](X509* c) { remove_extension(c, NID_subject_key_identifier); }},
        Breach{"rfc5280_4_2_1_3_key_usage", false,
               [](X509* c) { set_extension(c, NID_key_usage, "critical,digitalSignature,keyCertSign"); }},
        Breach{"rfc5280_4_2_1_3_key_usage_critical", false,
               [](X509* c) { set_extension(c, NID_key_usage, "digitalSignature"); }, Severity::kWarning},
        Breach{"rfc5280_4_2_1_6_subject_alt_name", false,
               [](X509* c) { set_extension(c, NID_subject_alt_name, "DNS:www.example.com,DNS:bad_name.example.com"); }},
        Breach{"rfc5280_4_2_1_9_basic_constraints", true,
               [](X509* c) { set_extension(c, NID_basic_constraints, "CA:TRUE"); }},
        Breach{"rfc5280_4_2_1_10_name_constraints_ca_only", false,
               [](X509* c) { set_extension(c, NID_name_constraints, "critical,permitted;DNS:example.com"); }},
        Breach{"br_7_1_2_7_2_common_name_in_san", false,
               [](X509* c) { set_extension(c, NID_subject_alt_name, "DNS:other.example.com"); }},
        Breach{"br_7_1_2_7_2_domain_validated_subject", false,
               [](X509* c) {
                 X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "O", MBSTRING_UTF8,
                                            reinterpret_cast<const unsigned char*>("Unvalidated Ltd"), -1, 0, 0);
               }},
        Breach{"br_7_1_4_2_attribute_order", false,
               [](X509* c) {
                 X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "C", MBSTRING_ASC,
                                            reinterpret_cast<const unsigned char*>("DE"), -1, -1, 0);
               },
               Severity::kWarning},
        Breach{"br_7_1_2_8_ocsp_responder", false,
               [](X509* c) { set_extension(c, NID_ext_key_usage, "OCSPSigning"); }},
        Breach{"br_7_1_2_7_12_subject_alt_name", false,
               [](X509* c) { set_extension(c, NID_subject_alt_name, "DNS:www.example.com,email:a@example.com"); }},
        Breach{"br_7_1_2_7_9_certificate_policies", false,
               [](X509* c) { remove_extension(c, NID_certificate_policies); }},
        Breach{"br_7_1_2_7_10_extended_key_usage", false,
               [](X509* c) { set_extension(c, NID_ext_key_usage, "serverAuth,codeSigning"); }},
        Breach{"br_7_1_2_7_11_key_usage", false,
               [](X509* c) { set_extension(c, NID_key_usage, "critical,digitalSignature,keyEncipherment"); }},
        Breach{"br_7_1_2_11_2_revocation_pointer", false,
               [](X509* c) { remove_extension(c, NID_crl_distribution_points); }, Severity::kWarning},
        Breach{"br_7_1_3_1_subject_public_key", false,
               [](X509* c) {
                 static ossl::Ptr<EVP_PKEY> edwards = testing::edwards_key("ED25519");
                 X509_set_pubkey(c, edwards.get());
               }},
        Breach{"br_7_1_3_2_signature_algorithm", false,
               [](X509* c) {
                 ossl::Ptr<X509_ALGOR> ed25519(X509_ALGOR_new());
                 X509_ALGOR_set0(ed25519.get(), OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, nullptr);
                 X509_ALGOR_copy(const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(c)), ed25519.get());
               }},
        Breach{"br_7_1_2_10_7_ca_key_usage", true,
               [](X509* c) { set_extension(c, NID_key_usage, "critical,keyCertSign,cRLSign,keyEncipherment"); }},
        Breach{"br_7_1_2_10_6_ca_extended_key_usage", true,
               [](X509* c) { set_extension(c, NID_ext_key_usage, "serverAuth,codeSigning"); }}),
    [](const ::testing::TestParamInfo<Breach>& parameter) { return parameter.param.rule; });

TEST(Lint, EveryCertificateRuleHasACaseAbove) {
  // The CRL and OCSP rules are tested below; every certificate rule above.
  std::size_t certificate_rules = 0;
  for (const auto& [rule, clause] : lint_rules()) {
    bool crl_or_ocsp = rule.starts_with("rfc5280_5_") || rule.starts_with("rfc6960_") || rule.starts_with("br_4_9_");
    certificate_rules += crl_or_ocsp ? 0 : 1;
  }
  EXPECT_EQ(certificate_rules, 28u);
}

struct CrlDeleter {
  void operator()(X509_CRL* crl) const { X509_CRL_free(crl); }
};
using CrlPtr = std::unique_ptr<X509_CRL, CrlDeleter>;

CrlPtr crl(const std::function<void(X509_CRL*)>& change = {}) {
  CrlPtr made(X509_CRL_new());
  X509_CRL_set_version(made.get(), X509_CRL_VERSION_2);
  ossl::Ptr<ASN1_STRING> this_update(ASN1_TIME_set(nullptr, kNotBefore));
  ossl::Ptr<ASN1_STRING> next_update(ASN1_TIME_set(nullptr, kNotBefore + 7 * 86400));
  X509_CRL_set1_lastUpdate(made.get(), this_update.get());
  X509_CRL_set1_nextUpdate(made.get(), next_update.get());
  ossl::Ptr<ASN1_STRING> number(ASN1_INTEGER_new());
  ASN1_INTEGER_set(number.get(), 1);
  X509_CRL_add1_ext_i2d(made.get(), NID_crl_number, number.get(), 0, 0);
  ossl::Ptr<AUTHORITY_KEYID> authority(AUTHORITY_KEYID_new());
  authority->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(authority->keyid, reinterpret_cast<const unsigned char*>("01234567890123456789"), 20);
  X509_CRL_add1_ext_i2d(made.get(), NID_authority_key_identifier, authority.get(), 0, 0);
  if (change) change(made.get());
  return made;
}

TEST(Lint, CrlRulesFire) {
  EXPECT_EQ(rules_of(lint_crl(crl().get(), true)), std::vector<std::string>{});
  auto fires = [](const std::string& rule, const std::function<void(X509_CRL*)>& change, bool tls = true) {
    std::vector<std::string> rules = rules_of(lint_crl(crl(change).get(), tls));
    EXPECT_NE(std::find(rules.begin(), rules.end(), rule), rules.end()) << rule << ": " << ::testing::PrintToString(rules);
  };
  fires("rfc5280_5_1_2_1_version", [](X509_CRL* c) { X509_CRL_set_version(c, X509_CRL_VERSION_1); });
  fires("rfc5280_5_1_2_5_next_update", [](X509_CRL* c) {
    ossl::Ptr<ASN1_STRING> earlier(ASN1_TIME_set(nullptr, kNotBefore - 1));
    X509_CRL_set1_nextUpdate(c, earlier.get());
  });
  fires("br_4_9_7_crl_validity", [](X509_CRL* c) {
    ossl::Ptr<ASN1_STRING> later(ASN1_TIME_set(nullptr, kNotBefore + 11 * 86400));
    X509_CRL_set1_nextUpdate(c, later.get());
  });
  fires("rfc5280_5_2_1_authority_key_identifier",
        [](X509_CRL* c) { X509_EXTENSION_free(X509_CRL_delete_ext(c, X509_CRL_get_ext_by_NID(c, NID_authority_key_identifier, -1))); });
  fires("rfc5280_5_2_3_crl_number",
        [](X509_CRL* c) { X509_EXTENSION_free(X509_CRL_delete_ext(c, X509_CRL_get_ext_by_NID(c, NID_crl_number, -1))); });
  auto revoked_at = [](std::time_t when, long reason) {
    return [when, reason](X509_CRL* c) {
      X509_REVOKED* entry = X509_REVOKED_new();
      ossl::Ptr<ASN1_STRING> serial(ASN1_INTEGER_new());
      ASN1_INTEGER_set(serial.get(), 7);
      X509_REVOKED_set_serialNumber(entry, serial.get());
      ossl::Ptr<ASN1_STRING> date(ASN1_TIME_set(nullptr, when));
      X509_REVOKED_set_revocationDate(entry, date.get());
      ossl::Ptr<ASN1_STRING> code(ASN1_ENUMERATED_new());
      ASN1_ENUMERATED_set(code.get(), reason);
      X509_REVOKED_add1_ext_i2d(entry, NID_crl_reason, code.get(), 0, 0);
      X509_CRL_add0_revoked(c, entry);
    };
  };
  fires("rfc5280_5_1_2_6_revocation_date", revoked_at(kNotBefore + 60, 1));
  fires("rfc5280_5_3_1_reason_code", revoked_at(kNotBefore - 60, 0));
  // The ten-day bound is the BR's, for a TLS CA only.
  EXPECT_TRUE(rules_of(lint_crl(crl([](X509_CRL* c) {
                                   ossl::Ptr<ASN1_STRING> later(ASN1_TIME_set(nullptr, kNotBefore + 11 * 86400));
                                   X509_CRL_set1_nextUpdate(c, later.get());
                                 }).get(),
                                false))
                  .empty());
}

TEST(Lint, OcspValidityRulesFire) {
  EXPECT_TRUE(lint_ocsp_validity(kNotBefore, kNotBefore + 12 * 3600, true).empty());
  EXPECT_EQ(rules_of(lint_ocsp_validity(kNotBefore, kNotBefore, false)),
            std::vector<std::string>{"rfc6960_4_2_2_1_next_update"});
  EXPECT_EQ(rules_of(lint_ocsp_validity(kNotBefore, kNotBefore + 3600, true)),
            std::vector<std::string>{"br_4_9_10_ocsp_validity"});
  EXPECT_TRUE(lint_ocsp_validity(kNotBefore, kNotBefore + 3600, false).empty());
  EXPECT_EQ(rules_of(lint_ocsp_validity(kNotBefore, kNotBefore + 11 * 86400, true)),
            std::vector<std::string>{"br_4_9_10_ocsp_validity"});
}

}  // namespace
}  // namespace custos::x509
