// CRLs signed on the token: for every kind of CA key, an empty CRL and one
// with entries verify under the CA certificate, in OpenSSL and in the
// openssl command a relying party runs, with the entries sorted and the
// extensions RFC 5280 asks for; a specification that breaks RFC 5280 is
// refused before anything is signed.
#include <gtest/gtest.h>

#include <openssl/pem.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "appliance/x509/crl.h"
#include "appliance/x509/name.h"
#include "appliance/x509/pem.h"
#include "common/error.h"
#include "hsm/token.h"
#include "tests/support/test_token.h"

namespace custos::x509 {
namespace {

constexpr std::time_t kThisUpdate = 1'800'000'000;
constexpr std::time_t kDay = 86'400;

std::vector<std::uint8_t> der_of(const X509_CRL* crl) { return ossl::to_der(crl, i2d_X509_CRL, "the CRL"); }

// A root CA whose key pair is on the SoftHSM token, with its self-signed
// certificate written to ca.pem in a directory of its own.
struct TokenCa {
  std::unique_ptr<hsm::Token> token;
  hsm::KeyRef key;
  hsm::SignatureScheme scheme;
  std::vector<std::uint8_t> public_key;
  ossl::Ptr<X509> certificate;
  std::filesystem::path directory;

  Signer signer() const {
    return [this](std::span<const std::uint8_t> tbs) { return token->sign(key, scheme, tbs); };
  }

  CrlSpec crl_spec(std::vector<RevokedEntry> revoked) const {
    return CrlSpec{X509_get_subject_name(certificate.get()), public_key, subject_key_identifier(certificate.get()),
                   scheme, 7, kThisUpdate, kThisUpdate + 7 * kDay, revoked_in_order(std::move(revoked))};
  }

  // `openssl crl` on the CRL as crl.pem beside ca.pem, as a relying party
  // would check it.
  testing::CommandResult openssl_crl(const X509_CRL* crl, const std::string& options) const {
    testing::write_file(directory / "crl.pem", crl_to_pem(der_of(crl)));
    return testing::run_command("cd '" + directory.string() + "' && openssl crl -in crl.pem " + options);
  }
};

// Each test makes its own key pair, labelled after the test, as a label
// may be used only once on a token.
TokenCa make_ca(const std::string& token_label, hsm::KeyType type, hsm::SignatureScheme scheme) {
  std::string test_name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(test_name.begin(), test_name.end(), '/', '-');
  TokenCa ca{std::make_unique<hsm::Token>(
                 hsm::Module::load(testing::TestToken::module_path()), token_label,
                 SecureBuffer::copy_of(std::span(reinterpret_cast<const std::uint8_t*>("1234"), 4))),
             {}, scheme, {}, nullptr, testing::TestToken::instance().make_directory(test_name)};
  ca.key = ca.token->generate_key_pair(type, hsm::KeyPurpose::kSigning, "crl-ca-" + test_name);
  ca.public_key = ca.token->public_key_info(ca.key);

  CertificateSpec spec;
  spec.subject = parse_name("CN=CRL Root,O=Custos Tests");
  spec.subject_public_key = ca.public_key;
  spec.serial = {0x01};
  spec.not_before = kThisUpdate - 365 * kDay;
  spec.not_after = kThisUpdate + 365 * kDay;
  spec.ca = true;
  spec.key_usage = kKeyCertSign | kCrlSign;
  IssuerSpec issuer{spec.subject.get(), ca.public_key, key_identifier(ca.public_key), scheme};
  ca.certificate = parse_certificate(prepare_certificate(spec, issuer).sign(ca.signer()));
  testing::write_file(ca.directory / "ca.pem", to_pem(ca.certificate.get()), 0644);
  return ca;
}

std::vector<std::uint8_t> bytes_of(const ASN1_STRING* string) {
  const unsigned char* data = ASN1_STRING_get0_data(string);
  return {data, data + ASN1_STRING_length(string)};
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++count;
  return count;
}

class SignedCrl : public ::testing::TestWithParam<std::pair<hsm::KeyType, hsm::SignatureScheme>> {
 protected:
  static void SetUpTestSuite() { testing::TestToken::instance().create_token("crl-test", "1234"); }

  void SetUp() override { ca_ = make_ca("crl-test", GetParam().first, GetParam().second); }

  TokenCa ca_;
};

TEST_P(SignedCrl, EmptyCrlVerifiesWithNumberAndAuthorityKey) {
  CrlPtr crl = parse_crl(make_crl(ca_.crl_spec({}), ca_.signer()));
  EXPECT_EQ(X509_CRL_verify(crl.get(), parse_public_key(ca_.public_key).get()), 1);
  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  EXPECT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())), -1);  // absent, not an empty SEQUENCE (§5.1.2.6)
  EXPECT_EQ(X509_CRL_get_signature_nid(crl.get()), X509_get_signature_nid(ca_.certificate.get()));

  ossl::Ptr<ASN1_STRING> number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  std::int64_t value = 0;
  ASSERT_TRUE(number);
  EXPECT_EQ(ASN1_INTEGER_get_int64(&value, number.get()), 1);
  EXPECT_EQ(value, 7);
  ossl::Ptr<AUTHORITY_KEYID> aki(static_cast<AUTHORITY_KEYID*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, nullptr, nullptr)));
  ASSERT_TRUE(aki && aki->keyid);
  EXPECT_EQ(bytes_of(aki->keyid), key_identifier(ca_.public_key));

  testing::CommandResult verified = ca_.openssl_crl(crl.get(), "-CAfile ca.pem -noout");
  EXPECT_EQ(verified.status, 0) << verified.err;
  EXPECT_NE(verified.err.find("verify OK"), std::string::npos) << verified.err;
  testing::CommandResult text = ca_.openssl_crl(crl.get(), "-text -noout");
  EXPECT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("X509v3 CRL Number"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("X509v3 Authority Key Identifier"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("No Revoked Certificates"), std::string::npos) << text.out;
}

TEST_P(SignedCrl, EntriesAreSortedWithReasonAndInvalidityDate) {
  std::vector<RevokedEntry> revoked{
      {{0x30, 0x03}, kThisUpdate - 300, RevocationReason::kUnspecified, std::nullopt},
      {{0x10, 0x01}, kThisUpdate - 100, RevocationReason::kKeyCompromise, kThisUpdate - 2 * kDay},
      {{0x20, 0x02}, kThisUpdate - 200, RevocationReason::kCertificateHold, std::nullopt},
  };
  CrlPtr crl = parse_crl(make_crl(ca_.crl_spec(revoked), ca_.signer()));
  EXPECT_EQ(X509_CRL_verify(crl.get(), parse_public_key(ca_.public_key).get()), 1);

  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
  ASSERT_EQ(sk_X509_REVOKED_num(entries), 3);
  const std::vector<std::vector<std::uint8_t>> sorted{{0x10, 0x01}, {0x20, 0x02}, {0x30, 0x03}};
  const int reasons[] = {1, 6, -1};  // -1: no reasonCode, as unspecified is left out
  for (int i = 0; i < 3; ++i) {
    X509_REVOKED* entry = sk_X509_REVOKED_value(entries, i);
    EXPECT_EQ(bytes_of(X509_REVOKED_get0_serialNumber(entry)), sorted[static_cast<std::size_t>(i)]);
    ossl::Ptr<ASN1_STRING> reason(
        static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
    EXPECT_EQ(reason ? ASN1_ENUMERATED_get(reason.get()) : -1, reasons[i]);
    ossl::Ptr<ASN1_STRING> invalidity(
        static_cast<ASN1_GENERALIZEDTIME*>(X509_REVOKED_get_ext_d2i(entry, NID_invalidity_date, nullptr, nullptr)));
    if (i == 0) {
      ASSERT_TRUE(invalidity);
      EXPECT_EQ(ASN1_STRING_type(invalidity.get()), V_ASN1_GENERALIZEDTIME);
      EXPECT_EQ(ASN1_TIME_cmp_time_t(invalidity.get(), kThisUpdate - 2 * kDay), 0);
    } else {
      EXPECT_FALSE(invalidity);
    }
  }

  testing::CommandResult verified = ca_.openssl_crl(crl.get(), "-CAfile ca.pem -noout");
  EXPECT_EQ(verified.status, 0) << verified.err;
  EXPECT_NE(verified.err.find("verify OK"), std::string::npos) << verified.err;
  testing::CommandResult text = ca_.openssl_crl(crl.get(), "-text -noout");
  EXPECT_EQ(text.status, 0) << text.err;
  for (const char* expected : {"X509v3 CRL Number", "Key Compromise", "Certificate Hold", "Invalidity Date",
                               "Serial Number: 1001", "Serial Number: 2002", "Serial Number: 3003"}) {
    EXPECT_NE(text.out.find(expected), std::string::npos) << expected << " missing from\n" << text.out;
  }
  EXPECT_EQ(count_of(text.out, "X509v3 CRL Reason Code"), 2u) << text.out;

  // The PEM reads back as the same DER, and the entries' order in the spec
  // does not change the CRL.
  std::string pem = crl_to_pem(der_of(crl.get()));  // the BIO reads it in place
  ossl::Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CrlPtr read(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(read);
  EXPECT_EQ(der_of(read.get()), der_of(crl.get()));
  std::reverse(revoked.begin(), revoked.end());
  CrlPtr reordered = parse_crl(make_crl(ca_.crl_spec(revoked), ca_.signer()));
  EXPECT_EQ(ossl::to_der(reordered.get(), i2d_re_X509_CRL_tbs, "the TBSCertList"),
            ossl::to_der(crl.get(), i2d_re_X509_CRL_tbs, "the TBSCertList"));
}

INSTANTIATE_TEST_SUITE_P(
    EveryKeyKind, SignedCrl,
    ::testing::Values(std::pair(hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256),
                      std::pair(hsm::KeyType::kRsa2048, hsm::SignatureScheme::kRsaPssSha256),
                      std::pair(hsm::KeyType::kEd25519, hsm::SignatureScheme::kEd25519)),
    [](const auto& parameter) {
      std::string name(hsm::signature_scheme_name(parameter.param.second));
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

class CrlChecks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::TestToken::instance().create_token("crl-checks", "1234"); }
};

TEST_F(CrlChecks, RefusesWhatRfc5280ForbidsBeforeSigning) {
  TokenCa ca = make_ca("crl-checks", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  int signatures = 0;
  Signer counting_signer = [&](std::span<const std::uint8_t> tbs) {
    ++signatures;
    return ca.signer()(tbs);
  };
  auto error_of = [&](auto change_spec, auto change_entries) -> std::string {
    std::vector<RevokedEntry> entries{{{0x01}, kThisUpdate - 60, RevocationReason::kSuperseded, std::nullopt}};
    change_entries(entries);
    CrlSpec spec = ca.crl_spec(entries);
    change_spec(spec);
    try {
      make_crl(spec, counting_signer);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  };
  auto spec_error = [&](auto change) { return error_of(change, [](std::vector<RevokedEntry>&) {}); };
  auto entry_error = [&](auto change) { return error_of([](CrlSpec&) {}, change); };
  EXPECT_EQ(spec_error([](CrlSpec&) {}), "");
  EXPECT_EQ(signatures, 1);

  EXPECT_EQ(spec_error([](CrlSpec& s) { s.number = 0; }), "the CRL number must be positive (RFC 5280 §5.2.3)");
  EXPECT_EQ(spec_error([](CrlSpec& s) { s.number = -3; }), "the CRL number must be positive (RFC 5280 §5.2.3)");
  EXPECT_EQ(spec_error([](CrlSpec& s) { s.next_update = s.this_update - 1; }),
            "the CRL's nextUpdate is not after its thisUpdate");
  EXPECT_EQ(spec_error([](CrlSpec& s) { s.next_update = s.this_update; }),
            "the CRL's nextUpdate is not after its thisUpdate");
  // 00 01 is the number 01 again.
  EXPECT_EQ(entry_error([](auto& e) { e.push_back({{0x00, 0x01}, kThisUpdate, {}, std::nullopt}); }),
            "the serial 0001 is listed twice in the CRL");
  EXPECT_EQ(entry_error([](auto& e) { e[0].reason = RevocationReason::kRemoveFromCrl; }),
            "the serial 01 has the reason removeFromCRL, which only a delta CRL may carry (RFC 5280 §5.3.1)");
  EXPECT_NE(entry_error([](auto& e) { e[0].serial = {0x80}; }).find("is not a positive number"), std::string::npos);
  EXPECT_NE(entry_error([](auto& e) { e[0].serial = {0x00}; }).find("is not a positive number"), std::string::npos);
  EXPECT_NE(entry_error([](auto& e) { e[0].serial = std::vector<std::uint8_t>(21, 1); }).find("20 bytes"),
            std::string::npos);
  EXPECT_EQ(entry_error([](auto& e) { e[0].reason = static_cast<RevocationReason>(7); }),
            "the serial 01 has the unknown revocation reason 7");
  EXPECT_NE(entry_error([](auto& e) { e[0].revoked_at = kThisUpdate + 1; }).find("rfc5280_5_1_2_6_revocation_date"),
            std::string::npos);
  EXPECT_EQ(spec_error([](CrlSpec& s) { s.issuer = nullptr; }), "the CRL has no issuer");
  // A source must hand the entries over in order: the CRL is written as they come.
  EXPECT_EQ(spec_error([](CrlSpec& s) {
              s.revoked = [](const std::function<void(const RevokedEntry&)>& add) {
                add({{0x02}, kThisUpdate, {}, std::nullopt});
                add({{0x01}, kThisUpdate, {}, std::nullopt});
              };
            }),
            "the revoked serial 01 comes after 02, out of order");
  EXPECT_EQ(signatures, 1);
}

// The CRL written entry by entry is the DER OpenSSL makes of the same CRL:
// parsed and encoded again it is the same bytes, and OpenSSL reads each
// entry back as it was given. The serials run from 1 to 19 significant
// bytes, some with a zero octet before a first bit that is set; the
// revocation dates straddle 2050, where UTCTime gives way to
// GeneralizedTime (RFC 5280 §5.1.2.6).
TEST_F(CrlChecks, EntriesWrittenOneByOneAreTheDerOpenSslMakes) {
  TokenCa ca = make_ca("crl-checks", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  constexpr std::time_t kIn2050 = 2'530'000'000;
  const RevocationReason reasons[] = {
      RevocationReason::kUnspecified,          RevocationReason::kKeyCompromise, RevocationReason::kCaCompromise,
      RevocationReason::kAffiliationChanged,   RevocationReason::kSuperseded,    RevocationReason::kCessationOfOperation,
      RevocationReason::kCertificateHold,      RevocationReason::kPrivilegeWithdrawn, RevocationReason::kAaCompromise};
  std::vector<RevokedEntry> revoked;
  for (int i = 1; i <= 600; ++i) {
    RevokedEntry entry;
    entry.serial.push_back(i % 5 == 0 ? 0x00 : static_cast<std::uint8_t>(1 + i % 0x7f));
    for (int j = 0; j < i % 18; ++j) entry.serial.push_back(static_cast<std::uint8_t>(0x80 | (i * 37 + j * 11)));
    entry.serial.push_back(static_cast<std::uint8_t>(i >> 8));
    entry.serial.push_back(static_cast<std::uint8_t>(i));  // i in the last two octets: no number twice
    entry.revoked_at = kIn2050 - i * 20'000;
    entry.reason = reasons[i % 9];
    if (i % 3 == 0) entry.invalidity_date = entry.revoked_at - kDay;
    revoked.push_back(std::move(entry));
  }
  CrlSpec spec = ca.crl_spec(revoked);
  spec.this_update = kIn2050;
  spec.next_update = kIn2050 + 7 * kDay;
  std::vector<std::uint8_t> der = make_crl(spec, ca.signer());
  CrlPtr crl = parse_crl(der);
  EXPECT_EQ(X509_CRL_verify(crl.get(), parse_public_key(ca.public_key).get()), 1);

  std::vector<std::uint8_t> reencoded = ossl::to_der(crl.get(), i2d_re_X509_CRL_tbs, "the TBSCertList");
  const unsigned char* cursor = der.data();
  long length = 0;
  int tag = 0;
  int tag_class = 0;
  ASSERT_EQ(ASN1_get_object(&cursor, &length, &tag, &tag_class, static_cast<long>(der.size())) & 0x80, 0);
  ASSERT_LE(cursor - der.data() + reencoded.size(), der.size());
  EXPECT_TRUE(std::equal(reencoded.begin(), reencoded.end(), cursor)) << "the TBSCertList is not OpenSSL's DER of it";

  std::stable_sort(revoked.begin(), revoked.end(), [](const RevokedEntry& a, const RevokedEntry& b) {
    auto number = [](const RevokedEntry& e) {
      return ossl::Ptr<BIGNUM>(BN_bin2bn(e.serial.data(), static_cast<int>(e.serial.size()), nullptr));
    };
    return BN_cmp(number(a).get(), number(b).get()) < 0;
  });
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
  ASSERT_EQ(sk_X509_REVOKED_num(entries), 600);
  for (int i = 0; i < 600; ++i) {
    const RevokedEntry& given = revoked[static_cast<std::size_t>(i)];
    X509_REVOKED* entry = sk_X509_REVOKED_value(entries, i);
    ossl::Ptr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(entry), nullptr));
    ossl::Ptr<BIGNUM> expected(BN_bin2bn(given.serial.data(), static_cast<int>(given.serial.size()), nullptr));
    EXPECT_EQ(BN_cmp(serial.get(), expected.get()), 0) << "entry " << i;
    EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(entry), given.revoked_at), 0) << "entry " << i;
    EXPECT_EQ(ASN1_STRING_type(X509_REVOKED_get0_revocationDate(entry)),
              given.revoked_at >= 2'524'608'000 ? V_ASN1_GENERALIZEDTIME : V_ASN1_UTCTIME);
    ossl::Ptr<ASN1_STRING> reason(
        static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
    EXPECT_EQ(reason ? ASN1_ENUMERATED_get(reason.get()) : 0, static_cast<long>(given.reason)) << "entry " << i;
    EXPECT_EQ(reason == nullptr, given.reason == RevocationReason::kUnspecified);
    ossl::Ptr<ASN1_STRING> invalidity(
        static_cast<ASN1_GENERALIZEDTIME*>(X509_REVOKED_get_ext_d2i(entry, NID_invalidity_date, nullptr, nullptr)));
    ASSERT_EQ(invalidity != nullptr, given.invalidity_date.has_value()) << "entry " << i;
    if (invalidity) {
      EXPECT_EQ(ASN1_TIME_cmp_time_t(invalidity.get(), *given.invalidity_date), 0);
    }
  }
  testing::CommandResult verified = ca.openssl_crl(crl.get(), "-CAfile ca.pem -noout");
  EXPECT_EQ(verified.status, 0) << verified.err;
}

TEST_F(CrlChecks, RefusesASignatureThatDoesNotVerify) {
  TokenCa ca = make_ca("crl-checks", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  Signer wrong_bytes = [&](std::span<const std::uint8_t> tbs) {
    std::vector<std::uint8_t> other(tbs.begin(), tbs.end());
    other.back() ^= 0x01;
    return ca.signer()(other);
  };
  try {
    make_crl(ca.crl_spec({}), wrong_bytes);
    FAIL() << "a signature over other bytes was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("does not verify under the issuer's public key"), std::string::npos)
        << error.what();
  }
}

TEST(RevocationReason, NamesRoundTrip) {
  for (int value : {0, 1, 2, 3, 4, 5, 6, 8, 9, 10}) {
    auto reason = static_cast<RevocationReason>(value);
    std::string_view name = revocation_reason_name(reason);
    EXPECT_NE(name, "unknown") << value;
    EXPECT_EQ(parse_revocation_reason(name), reason) << name;
  }
  EXPECT_EQ(revocation_reason_name(RevocationReason::kCaCompromise), "cACompromise");
  EXPECT_EQ(revocation_reason_name(RevocationReason::kRemoveFromCrl), "removeFromCRL");
  EXPECT_EQ(revocation_reason_name(RevocationReason::kAaCompromise), "aACompromise");
  EXPECT_EQ(parse_revocation_reason("keyCompromise"), RevocationReason::kKeyCompromise);
  EXPECT_EQ(parse_revocation_reason("keycompromise"), std::nullopt);
  EXPECT_EQ(parse_revocation_reason("key-compromise"), std::nullopt);
  EXPECT_EQ(parse_revocation_reason(""), std::nullopt);
  EXPECT_EQ(revocation_reason_name(static_cast<RevocationReason>(7)), "unknown");
}

}  // namespace
}  // namespace custos::x509
