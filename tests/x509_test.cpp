// Names, and certificates formed in software and signed on the token: every
// signature scheme (RSA-PSS parameters included) yields a certificate that
// OpenSSL verifies, and a specification that breaks RFC 5280 is refused
// before anything is signed.
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "appliance/x509/certificate.h"
#include "appliance/x509/name.h"
#include "appliance/x509/pem.h"
#include "common/encoding.h"
#include "common/error.h"
#include "hsm/token.h"
#include "tests/support/requests.h"
#include "tests/support/test_token.h"

namespace custos::x509 {
namespace {

TEST(Name, Rfc4514TextRoundTripsAndIsStoredLeastSpecificFirst) {
  ossl::Ptr<X509_NAME> name = parse_name("CN=Custos Root,OU=PKI,O=Example\\, Inc.,C=DE");
  EXPECT_EQ(format_name(name.get()), "CN=Custos Root,OU=PKI,O=Example\\, Inc.,C=DE");
  X509_NAME_ENTRY* first = X509_NAME_get_entry(name.get(), 0);
  EXPECT_EQ(OBJ_obj2nid(X509_NAME_ENTRY_get_object(first)), NID_countryName);
}

TEST(Name, SlashFormIsAccepted) {
  EXPECT_EQ(format_name(parse_name("/C=DE/O=Example/CN=Custos Root").get()), "CN=Custos Root,O=Example,C=DE");
}

TEST(Name, HexEscapesAreDecoded) {
  EXPECT_EQ(format_name(parse_name("CN=a\\2Cb").get()), "CN=a\\,b");
}

TEST(Name, MalformedNamesAreRefusedWithTheCause) {
  auto error_of = [](const char* text) -> std::string {
    try {
      parse_name(text);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(""), "the name is empty");
  EXPECT_EQ(error_of("CN"), "'CN' in the name is not TYPE=VALUE");
  EXPECT_EQ(error_of("CN="), "the name's CN is empty");
  EXPECT_EQ(error_of("XX=1"), "unknown attribute type 'XX' in the name");
  EXPECT_NE(error_of("C=Germany").find("the name's C 'Germany' is not valid"), std::string::npos);
  EXPECT_NE(error_of("CN=a+O=b").find("multi-valued RDNs"), std::string::npos);
}

class SignedCertificate : public ::testing::TestWithParam<std::pair<hsm::KeyType, hsm::SignatureScheme>> {
 protected:
  static void SetUpTestSuite() { testing::TestToken::instance().create_token("x509-test", "1234"); }

  static std::unique_ptr<hsm::Token> open_token() {
    return std::make_unique<hsm::Token>(hsm::Module::load(testing::TestToken::module_path()), "x509-test",
                                        SecureBuffer::copy_of(std::span(reinterpret_cast<const std::uint8_t*>("1234"), 4)));
  }
};

TEST_P(SignedCertificate, VerifiesUnderTheIssuerKeyWithTheRightAlgorithm) {
  auto [type, scheme] = GetParam();
  auto token = open_token();
  hsm::KeyRef key = token->generate_key_pair(type, hsm::KeyPurpose::kSigning, "ca");
  std::vector<std::uint8_t> public_key = token->public_key_info(key);

  CertificateSpec spec;
  spec.subject = parse_name("CN=Signed Root");
  spec.subject_public_key = public_key;
  spec.serial = {0x01, 0x02, 0x03};
  spec.not_before = 1'800'000'000;
  spec.not_after = 1'900'000'000;
  spec.ca = true;
  spec.path_length = 1;
  spec.key_usage = kKeyCertSign | kCrlSign;
  IssuerSpec issuer{spec.subject.get(), public_key, key_identifier(public_key), scheme};

  ossl::Ptr<X509> certificate = parse_certificate(prepare_certificate(spec, issuer).sign(
      [&](std::span<const std::uint8_t> tbs) { return token->sign(key, scheme, tbs); }));
  EXPECT_EQ(X509_verify(certificate.get(), parse_public_key(public_key).get()), 1);
  EXPECT_EQ(serial_hex(certificate.get()), "010203");
  EXPECT_EQ(certificate_serial_hex(certificate_der(certificate.get())), "010203");
  // The subject's key held already (the request's, decoded once): the same TBS.
  auto tbs_of = [&](const CertificateSpec& formed) {
    UnsignedCertificate unsigned_certificate = prepare_certificate(formed, issuer);
    std::span<const std::uint8_t> tbs = unsigned_certificate.to_be_signed();
    return std::vector<std::uint8_t>(tbs.begin(), tbs.end());
  };
  std::vector<std::uint8_t> decoded_here = tbs_of(spec);
  ossl::Ptr<EVP_PKEY> held = parse_public_key(public_key);
  spec.subject_key = held.get();
  EXPECT_EQ(tbs_of(spec), decoded_here);
  EXPECT_EQ(subject_key_identifier(certificate.get()), key_identifier(public_key));
  EXPECT_EQ(X509_get_pathlen(certificate.get()), 1);

  bool pss = hsm::signature_scheme_name(scheme).starts_with("rsa-pss");
  if (pss) {
    EXPECT_EQ(X509_get_signature_nid(certificate.get()), NID_rsassaPss);
  } else {
    EXPECT_NE(X509_get_signature_nid(certificate.get()), NID_rsassaPss);
  }
  // Round trip through PEM, as the file on disk is read back.
  std::vector<ossl::Ptr<X509>> read = read_pem_certificates(to_pem(certificate.get()));
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(certificate_der(read[0].get()), certificate_der(certificate.get()));
}

// The serial read from the bytes alone: with the version field (v3) and
// without it (v1), and an Error for what does not open like a certificate.
TEST(CertificateSerial, IsReadWithoutParsingTheRest) {
  // SEQUENCE { SEQUENCE { INTEGER 0x0ABC … } }: a v1 TBS opens with the serial.
  const std::vector<std::uint8_t> version_one = {0x30, 0x06, 0x30, 0x04, 0x02, 0x02, 0x0A, 0xBC};
  EXPECT_EQ(certificate_serial_hex(version_one), "0ABC");
  // [0] { INTEGER 2 } first: v3.
  const std::vector<std::uint8_t> version_three = {0x30, 0x0B, 0x30, 0x09, 0xA0, 0x03, 0x02, 0x01,
                                                   0x02, 0x02, 0x02, 0x7F, 0x01};
  EXPECT_EQ(certificate_serial_hex(version_three), "7F01");
  EXPECT_THROW(certificate_serial_hex(std::vector<std::uint8_t>{0x04, 0x00}), Error);
  EXPECT_THROW(certificate_serial_hex(std::vector<std::uint8_t>{0x30, 0x06, 0x30, 0x04, 0x02, 0x05}), Error);
  EXPECT_THROW(certificate_serial_hex(std::vector<std::uint8_t>{}), Error);
}

INSTANTIATE_TEST_SUITE_P(
    EveryScheme, SignedCertificate,
    ::testing::Values(std::pair(hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256),
                      std::pair(hsm::KeyType::kEcP384, hsm::SignatureScheme::kEcdsaSha384),
                      std::pair(hsm::KeyType::kRsa2048, hsm::SignatureScheme::kRsaPkcs1Sha256),
                      std::pair(hsm::KeyType::kRsa2048, hsm::SignatureScheme::kRsaPssSha256),
                      std::pair(hsm::KeyType::kRsa2048, hsm::SignatureScheme::kRsaPssSha384),
                      std::pair(hsm::KeyType::kRsa2048, hsm::SignatureScheme::kRsaPssSha512),
                      std::pair(hsm::KeyType::kEd25519, hsm::SignatureScheme::kEd25519)),
    [](const auto& parameter) {
      std::string name(hsm::signature_scheme_name(parameter.param.second));
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(PrepareCertificate, RefusesWhatRfc5280Forbids) {
  ossl::Ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));  // a subject key, not a CA key
  std::vector<std::uint8_t> public_key = ossl::to_der(key.get(), i2d_PUBKEY, "key");
  auto spec_with = [&](auto change) {
    CertificateSpec spec;
    spec.subject = parse_name("CN=Leaf");
    spec.subject_public_key = public_key;
    spec.serial = {0x05};
    spec.not_before = 1'800'000'000;
    spec.not_after = 1'900'000'000;
    spec.key_usage = kDigitalSignature;
    change(spec);
    return spec;
  };
  auto error_of = [&](const CertificateSpec& spec) -> std::string {
    IssuerSpec issuer{spec.subject.get(), public_key, key_identifier(public_key), hsm::SignatureScheme::kEcdsaSha256};
    try {
      prepare_certificate(spec, issuer);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(spec_with([](CertificateSpec&) {})), "");
  EXPECT_NE(error_of(spec_with([](CertificateSpec& s) { s.serial = {0x00}; })).find("positive"), std::string::npos);
  EXPECT_NE(error_of(spec_with([](CertificateSpec& s) { s.serial = {0x80, 0x01}; })).find("positive"),
            std::string::npos);
  EXPECT_NE(error_of(spec_with([](CertificateSpec& s) { s.serial = std::vector<std::uint8_t>(21, 1); })).find("20 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(spec_with([](CertificateSpec& s) { s.not_after = s.not_before; })).find("ends before"),
            std::string::npos);
  EXPECT_NE(error_of(spec_with([](CertificateSpec& s) { s.key_usage |= kKeyCertSign; })).find("only a CA"),
            std::string::npos);
  EXPECT_NE(error_of(spec_with([](CertificateSpec& s) { s.path_length = 0; })).find("path length"), std::string::npos);
}

// The certificate takes the subject's key as the request's bytes, without
// decoding them again; the linter still judges the key those bytes hold,
// whether the caller lends it decoded or not, and bytes that are not one
// SubjectPublicKeyInfo are refused.
TEST(PrepareCertificate, TakesTheSubjectKeyAsBytesAndTheLinterStillJudgesIt) {
  ossl::Ptr<EVP_PKEY> issuer_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::vector<std::uint8_t> issuer_public_key = ossl::to_der(issuer_key.get(), i2d_PUBKEY, "key");
  ossl::Ptr<X509_NAME> issuer_name = parse_name("CN=Issuing CA");
  IssuerSpec issuer{issuer_name.get(), issuer_public_key, key_identifier(issuer_public_key),
                    hsm::SignatureScheme::kEcdsaSha256};
  ossl::Ptr<EVP_PKEY> edwards = testing::edwards_key("ED25519");  // BR 7.1.3.1 allows RSA and ECDSA only
  CertificateSpec spec;
  spec.subject = parse_name("CN=leaf.example.com");
  spec.subject_public_key = ossl::to_der(edwards.get(), i2d_PUBKEY, "key");
  spec.serial = {0x05};
  spec.not_before = 1'800'000'000;
  spec.not_after = spec.not_before + 90 * 86400;
  spec.key_usage = kDigitalSignature;
  spec.extended_key_usage = {"serverAuth"};
  spec.san = {{"dns", "leaf.example.com"}};
  auto refusal_of = [&](const CertificateSpec& formed) -> std::string {
    try {
      prepare_certificate(formed, issuer);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  };
  for (EVP_PKEY* lent : {static_cast<EVP_PKEY*>(nullptr), edwards.get()}) {
    spec.subject_key = lent;
    std::string refusal = refusal_of(spec);
    EXPECT_NE(refusal.find("br_7_1_3_1_subject_public_key (BR 7.1.3.1): the BR allow RSA and ECDSA keys only, not ED25519"),
              std::string::npos)
        << refusal;
  }
  // The key lent, the bytes with one more: the bytes are what is signed.
  spec.subject_public_key.push_back(0x00);
  EXPECT_NE(refusal_of(spec).find("not one DER SubjectPublicKeyInfo"), std::string::npos) << refusal_of(spec);
}

// The key identifier is read from the SubjectPublicKeyInfo's bit string
// without decoding the key: it must be the SHA-1 of the same bytes OpenSSL
// finds when it does decode it, for every kind of key.
TEST(KeyIdentifier, IsTheSha1OfTheKeysBitStringForEveryKeyKind) {
  for (const char* algorithm : {"EC", "RSA", "ED25519"}) {
    ossl::Ptr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
    EVP_PKEY* generated = nullptr;
    ASSERT_EQ(EVP_PKEY_keygen_init(context.get()), 1);
    if (std::string(algorithm) == "EC") {
      ASSERT_EQ(EVP_PKEY_CTX_set_group_name(context.get(), "P-384"), 1);
    }
    ASSERT_EQ(EVP_PKEY_generate(context.get(), &generated), 1);
    ossl::Ptr<EVP_PKEY> key(generated);
    std::vector<std::uint8_t> spki = ossl::to_der(key.get(), i2d_PUBKEY, "the key");

    const unsigned char* cursor = spki.data();
    ossl::Ptr<X509_PUBKEY> decoded(d2i_X509_PUBKEY(nullptr, &cursor, static_cast<long>(spki.size())));
    const unsigned char* bits = nullptr;
    int length = 0;
    ASSERT_EQ(X509_PUBKEY_get0_param(nullptr, &bits, &length, nullptr, decoded.get()), 1);
    EXPECT_EQ(key_identifier(spki), ossl::sha_digest("SHA1", std::span(bits, static_cast<std::size_t>(length))))
        << algorithm;
  }
  EXPECT_THROW(key_identifier(std::vector<std::uint8_t>{0x30, 0x03, 0x02, 0x01, 0x00}), Error);
  EXPECT_THROW(key_identifier(std::vector<std::uint8_t>{}), Error);
}

// pem_armour (common/encoding.h) writes PEM without OpenSSL; what it
// writes must be what OpenSSL's PEM writer does, on both sides of every
// line length and of base64's padding.
TEST(PemArmour, IsByteForByteWhatOpensslWrites) {
  for (std::size_t size : {1, 2, 3, 47, 48, 49, 95, 96, 97, 472, 1000}) {
    std::vector<std::uint8_t> der(size);
    for (std::size_t i = 0; i < size; ++i) der[i] = static_cast<std::uint8_t>(i * 37 + 11);
    ossl::Ptr<BIO> bio(BIO_new(BIO_s_mem()));
    ASSERT_GT(PEM_write_bio(bio.get(), "X509 CRL", "", der.data(), static_cast<long>(der.size())), 0);
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    EXPECT_EQ(pem_armour("X509 CRL", der), std::string(data, static_cast<std::size_t>(length))) << size;
  }
}

}  // namespace
}  // namespace custos::x509
