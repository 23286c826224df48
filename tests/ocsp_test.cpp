// OCSP answered on the token: for every kind of CA key, a request the
// openssl command made is read and answered good, revoked and unknown, and
// the openssl command a relying party runs verifies the response, reads the
// status and finds its nonce echoed, whether the CA signs or a delegated
// responder does; what is not an OCSP request Custos answers, and a
// specification that breaks RFC 6960, are refused, the latter before
// anything is signed.
#include <gtest/gtest.h>

#include <openssl/ocsp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "appliance/x509/name.h"
#include "appliance/x509/ocsp.h"
#include "appliance/x509/pem.h"
#include "common/encoding.h"
#include "common/error.h"
#include "hsm/token.h"
#include "tests/support/test_token.h"

namespace custos::x509 {
namespace {

constexpr std::time_t kDay = 86'400;
constexpr std::size_t kNotFound = std::string::npos;

std::string test_name() {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(name.begin(), name.end(), '/', '-');
  return name;
}

std::vector<std::uint8_t> bytes_of(const ASN1_STRING* string) {
  const unsigned char* data = ASN1_STRING_get0_data(string);
  return {data, data + ASN1_STRING_length(string)};
}

// Upper-case hex, as `openssl ocsp -resp_text` prints extension values.
std::string upper_hex(std::span<const std::uint8_t> bytes) {
  std::string hex = to_hex(bytes);
  std::transform(hex.begin(), hex.end(), hex.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return hex;
}

// A time as the openssl command prints it ("Nov  1 00:00:00 2026 GMT").
std::string printed_time(std::time_t time) {
  ossl::Ptr<ASN1_STRING> value(ASN1_GENERALIZEDTIME_set(nullptr, time));
  ossl::Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(ASN1_GENERALIZEDTIME_print(bio.get(), value.get()), 1);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// A key pair on the token and the certificate the CA issued for it.
struct IssuedKey {
  hsm::KeyRef key;
  ossl::Ptr<X509> certificate;
};

// A root CA whose key pair is on the SoftHSM token, with its self-signed
// certificate written to ca.pem in a directory of its own. The openssl
// command checks certificates and responses against the clock, so every
// time is set around `now`.
struct TokenCa {
  std::unique_ptr<hsm::Token> token;
  hsm::KeyRef key;
  hsm::SignatureScheme scheme;
  std::vector<std::uint8_t> public_key;
  ossl::Ptr<X509> certificate;
  std::filesystem::path directory;
  std::time_t now = 0;

  Signer signer_for(hsm::KeyRef signing_key) const {
    return [this, signing_key](std::span<const std::uint8_t> tbs) { return token->sign(signing_key, scheme, tbs); };
  }
  Signer signer() const { return signer_for(key); }

  // A certificate for a new key pair on the token, valid for 30 days,
  // with the key usage digitalSignature and what `profile` adds.
  IssuedKey issue(hsm::KeyType type, const std::string& name, const std::string& subject,
                  std::vector<std::uint8_t> serial, const std::function<void(CertificateSpec&)>& profile) const {
    IssuedKey issued;
    issued.key = token->generate_key_pair(type, hsm::KeyPurpose::kSigning, "ocsp-" + name + "-" + test_name());
    CertificateSpec spec;
    spec.subject = parse_name(subject);
    spec.subject_public_key = token->public_key_info(issued.key);
    spec.serial = std::move(serial);
    spec.not_before = now - kDay;
    spec.not_after = now + 30 * kDay;
    spec.key_usage = kDigitalSignature;
    profile(spec);
    IssuerSpec issuer{X509_get_subject_name(certificate.get()), public_key, subject_key_identifier(certificate.get()),
                      scheme};
    issued.certificate = parse_certificate(prepare_certificate(spec, issuer).sign(signer()));
    return issued;
  }

  // `openssl ocsp` making a request in the CA's directory, written to `file`.
  std::vector<std::uint8_t> openssl_request(const std::string& options, const std::string& file) const {
    testing::CommandResult made =
        testing::run_command("cd '" + directory.string() + "' && openssl ocsp " + options + " -reqout " + file);
    EXPECT_EQ(made.status, 0) << made.err;
    std::string der = testing::read_file(directory / file);
    return {der.begin(), der.end()};
  }

  // `openssl ocsp` on the response as resp.der beside ca.pem, leaf.pem and
  // req.der, as a relying party would check it.
  testing::CommandResult openssl_ocsp(const std::vector<std::uint8_t>& response, const std::string& options) const {
    testing::write_file(directory / "resp.der", std::string(response.begin(), response.end()));
    return testing::run_command("cd '" + directory.string() + "' && openssl ocsp -respin resp.der " + options);
  }
};

// Each CA makes its own key pairs, labelled after it and the test, as a
// label may be used only once on a token.
TokenCa make_ca(const std::string& token_label, const std::string& name, hsm::KeyType type,
                hsm::SignatureScheme scheme) {
  TokenCa ca{std::make_unique<hsm::Token>(
                 hsm::Module::load(testing::TestToken::module_path()), token_label,
                 SecureBuffer::copy_of(std::span(reinterpret_cast<const std::uint8_t*>("1234"), 4))),
             {}, scheme, {}, nullptr, testing::TestToken::instance().make_directory(name + "-" + test_name()),
             std::time(nullptr)};
  ca.key = ca.token->generate_key_pair(type, hsm::KeyPurpose::kSigning, "ocsp-" + name + "-" + test_name());
  ca.public_key = ca.token->public_key_info(ca.key);

  CertificateSpec spec;
  spec.subject = parse_name("CN=OCSP Root " + name + ",O=Custos Tests");
  spec.subject_public_key = ca.public_key;
  spec.serial = {0x01};
  spec.not_before = ca.now - kDay;
  spec.not_after = ca.now + 365 * kDay;
  spec.ca = true;
  spec.key_usage = kKeyCertSign | kCrlSign;
  IssuerSpec issuer{spec.subject.get(), ca.public_key, key_identifier(ca.public_key), scheme};
  ca.certificate = parse_certificate(prepare_certificate(spec, issuer).sign(ca.signer()));
  testing::write_file(ca.directory / "ca.pem", to_pem(ca.certificate.get()), 0644);
  return ca;
}

// The leaf certificate every request asks about, as leaf.pem beside ca.pem.
IssuedKey make_leaf(const TokenCa& ca) {
  IssuedKey leaf = ca.issue(hsm::KeyType::kEcP256, "leaf", "CN=leaf.example", {0x10, 0x01},
                            [](CertificateSpec& spec) { spec.extended_key_usage = {"clientAuth"}; });
  testing::write_file(ca.directory / "leaf.pem", to_pem(leaf.certificate.get()), 0644);
  return leaf;
}

ossl::Ptr<OCSP_BASICRESP> basic_response(const std::vector<std::uint8_t>& der) {
  const unsigned char* cursor = der.data();
  ossl::Ptr<OCSP_RESPONSE> response(d2i_OCSP_RESPONSE(nullptr, &cursor, static_cast<long>(der.size())));
  EXPECT_TRUE(response);
  if (!response) return nullptr;
  EXPECT_EQ(cursor, der.data() + der.size());
  EXPECT_EQ(OCSP_response_status(response.get()), OCSP_RESPONSE_STATUS_SUCCESSFUL);
  return ossl::Ptr<OCSP_BASICRESP>(OCSP_response_get1_basic(response.get()));
}

// The status OpenSSL reads from the response's only SingleResponse.
struct SingleStatus {
  int status = -1;
  int reason = -2;
  ASN1_GENERALIZEDTIME* revoked_at = nullptr;  // these point into the response
  ASN1_GENERALIZEDTIME* this_update = nullptr;
  ASN1_GENERALIZEDTIME* next_update = nullptr;
};

SingleStatus only_status(OCSP_BASICRESP* basic) {
  SingleStatus single;
  EXPECT_EQ(OCSP_resp_count(basic), 1);
  single.status = OCSP_single_get0_status(OCSP_resp_get0(basic, 0), &single.reason, &single.revoked_at,
                                          &single.this_update, &single.next_update);
  return single;
}

class OcspResponder : public ::testing::TestWithParam<std::pair<hsm::KeyType, hsm::SignatureScheme>> {
 protected:
  static void SetUpTestSuite() { testing::TestToken::instance().create_token("ocsp-test", "1234"); }

  void SetUp() override {
    ca_ = make_ca("ocsp-test", "ca", GetParam().first, GetParam().second);
    leaf_ = make_leaf(ca_);
    request_der_ = ca_.openssl_request("-issuer ca.pem -cert leaf.pem", "req.der");
    request_ = parse_ocsp_request(request_der_);
    ASSERT_EQ(request_.queries.size(), 1u);
  }

  // The CA answers the one query, from an hour ago for a week, echoing the
  // request's nonce.
  OcspResponseSpec response_spec(OcspStatus status, std::time_t revoked_at = 0,
                                 RevocationReason reason = RevocationReason::kUnspecified) const {
    return OcspResponseSpec{ca_.certificate.get(),
                            ca_.scheme,
                            {},
                            ca_.now,
                            ca_.now - 3600,
                            ca_.now + 7 * kDay,
                            {{&request_.queries[0], status, revoked_at, reason}},
                            request_.nonce};
  }

  TokenCa ca_;
  IssuedKey leaf_;
  std::vector<std::uint8_t> request_der_;
  OcspRequest request_;
};

TEST_P(OcspResponder, AnswersGoodAndEchoesTheNonce) {
  const OcspQuery& query = request_.queries[0];
  EXPECT_EQ(query.serial_hex, "1001");
  EXPECT_EQ(query.serial_hex, serial_hex(leaf_.certificate.get()));
  EXPECT_TRUE(issued_by(query, ca_.certificate.get()));
  // openssl ocsp sends 16 random octets as an OCTET STRING.
  ASSERT_TRUE(request_.nonce);
  ASSERT_EQ(request_.nonce->size(), 18u);
  EXPECT_EQ((*request_.nonce)[0], 0x04);
  EXPECT_EQ((*request_.nonce)[1], 0x10);

  std::vector<std::uint8_t> response = make_ocsp_response(response_spec(OcspStatus::kGood), ca_.signer());

  ossl::Ptr<OCSP_BASICRESP> basic = basic_response(response);
  ASSERT_TRUE(basic);
  const ASN1_OCTET_STRING* key_hash = nullptr;
  const X509_NAME* name = nullptr;
  ASSERT_EQ(OCSP_resp_get0_id(basic.get(), &key_hash, &name), 1);
  EXPECT_EQ(name, nullptr);  // byKey, not byName
  ASSERT_NE(key_hash, nullptr);
  EXPECT_EQ(bytes_of(key_hash), key_identifier(ca_.public_key));
  EXPECT_EQ(ASN1_TIME_cmp_time_t(OCSP_resp_get0_produced_at(basic.get()), ca_.now), 0);
  EXPECT_EQ(OCSP_resp_get0_certs(basic.get()), nullptr);  // the CA signs: no certs
  EXPECT_EQ(OCSP_id_cmp(OCSP_SINGLERESP_get0_id(OCSP_resp_get0(basic.get(), 0)), query.certificate_id.get()), 0);
  SingleStatus single = only_status(basic.get());
  EXPECT_EQ(single.status, V_OCSP_CERTSTATUS_GOOD);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(single.this_update, ca_.now - 3600), 0);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(single.next_update, ca_.now + 7 * kDay), 0);
  const unsigned char* cursor = request_der_.data();
  ossl::Ptr<OCSP_REQUEST> request(d2i_OCSP_REQUEST(nullptr, &cursor, static_cast<long>(request_der_.size())));
  ASSERT_TRUE(request);
  EXPECT_EQ(OCSP_check_nonce(request.get(), basic.get()), 1);  // present in both and equal

  // Given the request, openssl compares the nonces, and refuses the
  // response to another request.
  testing::CommandResult echoed = ca_.openssl_ocsp(response, "-reqin req.der -issuer ca.pem -CAfile ca.pem -resp_text");
  EXPECT_EQ(echoed.status, 0) << echoed.err;
  EXPECT_NE(echoed.err.find("Response verify OK"), kNotFound) << echoed.err;
  EXPECT_NE(echoed.out.find("Cert Status: good"), kNotFound) << echoed.out;
  EXPECT_NE(echoed.out.find("OCSP Nonce"), kNotFound) << echoed.out;
  EXPECT_NE(echoed.out.find(upper_hex(*request_.nonce)), kNotFound) << echoed.out;
  ca_.openssl_request("-issuer ca.pem -cert leaf.pem", "other.der");
  testing::CommandResult other = ca_.openssl_ocsp(response, "-reqin other.der -issuer ca.pem -CAfile ca.pem");
  EXPECT_NE(other.status, 0);
  EXPECT_NE(other.err.find("Nonce Verify error"), kNotFound) << other.err;

  // Asked about leaf.pem itself (with a request of its own, so without a
  // nonce to compare), openssl reads the status.
  testing::CommandResult summary = ca_.openssl_ocsp(response, "-issuer ca.pem -cert leaf.pem -CAfile ca.pem -no_nonce");
  EXPECT_EQ(summary.status, 0) << summary.err;
  EXPECT_NE(summary.err.find("Response verify OK"), kNotFound) << summary.err;
  EXPECT_NE(summary.out.find("leaf.pem: good\n"), kNotFound) << summary.out;
}

TEST_P(OcspResponder, AnswersRevokedWithReasonAndTime) {
  const std::time_t revoked_at = ca_.now - 2 * kDay;
  std::vector<std::uint8_t> response = make_ocsp_response(
      response_spec(OcspStatus::kRevoked, revoked_at, RevocationReason::kKeyCompromise), ca_.signer());

  ossl::Ptr<OCSP_BASICRESP> basic = basic_response(response);
  ASSERT_TRUE(basic);
  SingleStatus single = only_status(basic.get());
  EXPECT_EQ(single.status, V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(single.reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
  ASSERT_NE(single.revoked_at, nullptr);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(single.revoked_at, revoked_at), 0);

  testing::CommandResult summary = ca_.openssl_ocsp(response, "-issuer ca.pem -cert leaf.pem -CAfile ca.pem -no_nonce");
  EXPECT_EQ(summary.status, 0) << summary.err;
  EXPECT_NE(summary.err.find("Response verify OK"), kNotFound) << summary.err;
  EXPECT_NE(summary.out.find("leaf.pem: revoked\n"), kNotFound) << summary.out;
  EXPECT_NE(summary.out.find("Reason: keyCompromise\n"), kNotFound) << summary.out;
  EXPECT_NE(summary.out.find("Revocation Time: " + printed_time(revoked_at)), kNotFound) << summary.out;
  testing::CommandResult text = ca_.openssl_ocsp(response, "-reqin req.der -issuer ca.pem -CAfile ca.pem -resp_text");
  EXPECT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("Revocation Reason: keyCompromise (0x1)"), kNotFound) << text.out;

  // Unspecified is left out, as in a CRL entry.
  response = make_ocsp_response(response_spec(OcspStatus::kRevoked, revoked_at, RevocationReason::kUnspecified),
                                ca_.signer());
  basic = basic_response(response);
  ASSERT_TRUE(basic);
  single = only_status(basic.get());
  EXPECT_EQ(single.status, V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(single.reason, OCSP_REVOKED_STATUS_NOSTATUS);
  summary = ca_.openssl_ocsp(response, "-issuer ca.pem -cert leaf.pem -CAfile ca.pem -no_nonce");
  EXPECT_EQ(summary.status, 0) << summary.err;
  EXPECT_NE(summary.out.find("leaf.pem: revoked\n"), kNotFound) << summary.out;
  EXPECT_EQ(summary.out.find("Reason:"), kNotFound) << summary.out;
}

TEST_P(OcspResponder, AnswersUnknown) {
  std::vector<std::uint8_t> response = make_ocsp_response(response_spec(OcspStatus::kUnknown), ca_.signer());

  ossl::Ptr<OCSP_BASICRESP> basic = basic_response(response);
  ASSERT_TRUE(basic);
  EXPECT_EQ(only_status(basic.get()).status, V_OCSP_CERTSTATUS_UNKNOWN);
  testing::CommandResult summary = ca_.openssl_ocsp(response, "-issuer ca.pem -cert leaf.pem -CAfile ca.pem -no_nonce");
  EXPECT_EQ(summary.status, 0) << summary.err;
  EXPECT_NE(summary.err.find("Response verify OK"), kNotFound) << summary.err;
  EXPECT_NE(summary.out.find("leaf.pem: unknown\n"), kNotFound) << summary.out;
}

TEST_P(OcspResponder, DelegatedResponderSignsWithItsCertificateIncluded) {
  IssuedKey responder =
      ca_.issue(GetParam().first, "responder", "CN=OCSP Responder,O=Custos Tests", {0x20, 0x02},
                [](CertificateSpec& spec) {
                  spec.extended_key_usage = {"OCSPSigning"};
                  // id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients need
                  // not ask about the responder's own certificate.
                  spec.extra_extensions.push_back({"1.3.6.1.5.5.7.48.1.5", false, {0x05, 0x00}});
                });
  OcspResponseSpec spec = response_spec(OcspStatus::kGood);
  spec.responder = responder.certificate.get();
  spec.certificates = {responder.certificate.get()};
  std::vector<std::uint8_t> response = make_ocsp_response(spec, ca_.signer_for(responder.key));

  ossl::Ptr<OCSP_BASICRESP> basic = basic_response(response);
  ASSERT_TRUE(basic);
  const ASN1_OCTET_STRING* key_hash = nullptr;
  const X509_NAME* name = nullptr;
  ASSERT_EQ(OCSP_resp_get0_id(basic.get(), &key_hash, &name), 1);
  ASSERT_NE(key_hash, nullptr);
  EXPECT_EQ(bytes_of(key_hash), subject_key_identifier(responder.certificate.get()));
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(basic.get());
  ASSERT_EQ(sk_X509_num(certs), 1);
  EXPECT_EQ(certificate_der(sk_X509_value(certs, 0)), certificate_der(responder.certificate.get()));

  // openssl finds the responder among the certs, chains it to the CA it
  // trusts and checks its OCSPSigning usage.
  testing::CommandResult summary = ca_.openssl_ocsp(response, "-issuer ca.pem -cert leaf.pem -CAfile ca.pem -no_nonce");
  EXPECT_EQ(summary.status, 0) << summary.err;
  EXPECT_NE(summary.err.find("Response verify OK"), kNotFound) << summary.err;
  EXPECT_NE(summary.out.find("leaf.pem: good\n"), kNotFound) << summary.out;
  testing::CommandResult echoed = ca_.openssl_ocsp(response, "-reqin req.der -CAfile ca.pem -resp_text");
  EXPECT_EQ(echoed.status, 0) << echoed.err;
  EXPECT_NE(echoed.err.find("Response verify OK"), kNotFound) << echoed.err;
  EXPECT_NE(echoed.out.find(upper_hex(*request_.nonce)), kNotFound) << echoed.out;
  EXPECT_NE(echoed.out.find("OCSP No Check"), kNotFound) << echoed.out;  // the responder's certificate, printed
}

INSTANTIATE_TEST_SUITE_P(
    EveryKeyKind, OcspResponder,
    ::testing::Values(std::pair(hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256),
                      std::pair(hsm::KeyType::kRsa2048, hsm::SignatureScheme::kRsaPkcs1Sha256),
                      std::pair(hsm::KeyType::kEd25519, hsm::SignatureScheme::kEd25519)),
    [](const auto& parameter) {
      std::string name(hsm::signature_scheme_name(parameter.param.second));
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

class OcspChecks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::TestToken::instance().create_token("ocsp-checks", "1234"); }
};

std::string repeated(const std::string& option, int times) {
  std::string options;
  for (int i = 0; i < times; ++i) options += " " + option;
  return options;
}

// A request for the leaf with the given nonce extensions, each its
// extnValue as is: OpenSSL's own request API, unlike the openssl command,
// writes any nonce asked of it.
std::vector<std::uint8_t> request_with_nonces(const TokenCa& ca, const IssuedKey& leaf,
                                              const std::vector<std::vector<std::uint8_t>>& nonces) {
  ossl::Ptr<OCSP_REQUEST> request(OCSP_REQUEST_new());
  OCSP_CERTID* id = OCSP_cert_to_id(nullptr, leaf.certificate.get(), ca.certificate.get());
  EXPECT_NE(OCSP_request_add0_id(request.get(), id), nullptr);
  for (const std::vector<std::uint8_t>& nonce : nonces) {
    ossl::Ptr<ASN1_STRING> value(ASN1_OCTET_STRING_new());
    EXPECT_EQ(ASN1_OCTET_STRING_set(value.get(), nonce.data(), static_cast<int>(nonce.size())), 1);
    ossl::Ptr<X509_EXTENSION> extension(
        X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, value.get()));
    EXPECT_EQ(OCSP_REQUEST_add_ext(request.get(), extension.get(), -1), 1);
  }
  return ossl::to_der(request.get(), i2d_OCSP_REQUEST, "the OCSP request");
}

std::vector<std::uint8_t> octet_string(std::size_t length) {
  std::vector<std::uint8_t> der{0x04, static_cast<std::uint8_t>(length)};
  der.insert(der.end(), length, 0x5A);
  return der;
}

TEST_F(OcspChecks, ReadsWhatTheOpensslCommandAsks) {
  TokenCa ca = make_ca("ocsp-checks", "ca", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  TokenCa other = make_ca("ocsp-checks", "other", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  IssuedKey leaf = make_leaf(ca);
  testing::write_file(ca.directory / "other.pem", to_pem(other.certificate.get()), 0644);

  OcspRequest many =
      parse_ocsp_request(ca.openssl_request("-issuer ca.pem" + repeated("-cert leaf.pem", 16), "many.der"));
  ASSERT_EQ(many.queries.size(), 16u);
  for (const OcspQuery& query : many.queries) EXPECT_EQ(query.serial_hex, "1001");

  // A SHA-256 CertID names the CA as well as a SHA-1 one, and is answered
  // with its own bytes.
  OcspRequest sha256 =
      parse_ocsp_request(ca.openssl_request("-sha256 -issuer ca.pem -cert leaf.pem -no_nonce", "req.der"));
  ASSERT_EQ(sha256.queries.size(), 1u);
  EXPECT_FALSE(sha256.nonce);
  EXPECT_TRUE(issued_by(sha256.queries[0], ca.certificate.get()));
  EXPECT_FALSE(issued_by(sha256.queries[0], other.certificate.get()));
  OcspResponseSpec spec{ca.certificate.get(), ca.scheme, {}, ca.now, ca.now, ca.now + kDay,
                        {{&sha256.queries[0], OcspStatus::kGood, 0, RevocationReason::kUnspecified}}, sha256.nonce};
  testing::CommandResult summary = ca.openssl_ocsp(make_ocsp_response(spec, ca.signer()),
                                                   "-sha256 -issuer ca.pem -cert leaf.pem -CAfile ca.pem -no_nonce");
  EXPECT_EQ(summary.status, 0) << summary.err;
  EXPECT_NE(summary.out.find("leaf.pem: good\n"), kNotFound) << summary.out;

  // The CertID of another CA's certificate with the same serial (with
  // -serial, openssl takes the issuer's name from -issuer; with -cert it
  // would take the certificate's issuer name).
  OcspRequest foreign = parse_ocsp_request(ca.openssl_request("-issuer other.pem -serial 0x1001", "foreign.der"));
  ASSERT_EQ(foreign.queries.size(), 1u);
  EXPECT_FALSE(issued_by(foreign.queries[0], ca.certificate.get()));
  EXPECT_TRUE(issued_by(foreign.queries[0], other.certificate.get()));

  // MD5 is not a hash a CertID may name the CA with.
  OcspRequest md5 = parse_ocsp_request(ca.openssl_request("-md5 -issuer ca.pem -cert leaf.pem", "md5.der"));
  ASSERT_EQ(md5.queries.size(), 1u);
  EXPECT_FALSE(issued_by(md5.queries[0], ca.certificate.get()));

  // RFC 8954: 1 to 32 octets.
  OcspRequest longest = parse_ocsp_request(request_with_nonces(ca, leaf, {octet_string(32)}));
  ASSERT_TRUE(longest.nonce);
  EXPECT_EQ(*longest.nonce, octet_string(32));
  OcspRequest shortest = parse_ocsp_request(request_with_nonces(ca, leaf, {octet_string(1)}));
  ASSERT_TRUE(shortest.nonce);
  EXPECT_EQ(*shortest.nonce, octet_string(1));
}

TEST_F(OcspChecks, RefusesWhatIsNotAnOcspRequest) {
  TokenCa ca = make_ca("ocsp-checks", "ca", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  IssuedKey leaf = make_leaf(ca);
  std::vector<std::uint8_t> der = ca.openssl_request("-issuer ca.pem -cert leaf.pem", "req.der");
  auto error_of = [](const std::vector<std::uint8_t>& input) -> std::string {
    try {
      parse_ocsp_request(input);
    } catch (const MalformedOcspRequest& error) {
      return error.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(der), "");

  EXPECT_EQ(error_of({}), "the OCSP request is empty");
  std::string garbage = "this is not an OCSP request";
  EXPECT_NE(error_of({garbage.begin(), garbage.end()}).find("the input is not an OCSP request: "), kNotFound);
  EXPECT_NE(error_of({der.begin(), der.end() - 1}).find("the input is not an OCSP request: "), kNotFound);
  std::vector<std::uint8_t> trailing = der;
  trailing.push_back(0x00);
  EXPECT_EQ(error_of(trailing), "there are 1 bytes after the OCSP request");
  // The same request with its outer length in the long form.
  ASSERT_LT(der[1], 0x80);
  std::vector<std::uint8_t> ber{0x30, 0x81, der[1]};
  ber.insert(ber.end(), der.begin() + 2, der.end());
  EXPECT_EQ(error_of(ber), "the OCSP request is BER, not DER: it does not encode back to the same bytes");
  EXPECT_EQ(error_of(std::vector<std::uint8_t>(kMaxOcspRequestBytes + 1, 0x30)),
            "the OCSP request has 65537 bytes; at most 65536 are accepted");

  // OCSPRequest { TBSRequest { requestList {} } }
  EXPECT_EQ(error_of({0x30, 0x04, 0x30, 0x02, 0x30, 0x00}), "the OCSP request asks about no certificate");
  EXPECT_EQ(error_of(ca.openssl_request("-issuer ca.pem" + repeated("-cert leaf.pem", 17), "many.der")),
            "the OCSP request asks about 17 certificates; at most 16 are answered at once");

  const std::string bad_nonce = "the OCSP request's nonce is not an OCTET STRING of 1 to 32 octets (RFC 8954)";
  EXPECT_EQ(error_of(request_with_nonces(ca, leaf, {octet_string(33)})), bad_nonce);
  EXPECT_EQ(error_of(request_with_nonces(ca, leaf, {octet_string(0)})), bad_nonce);
  EXPECT_EQ(error_of(request_with_nonces(ca, leaf, {{0x02, 0x01, 0x05}})), bad_nonce);  // an INTEGER
  EXPECT_EQ(error_of(request_with_nonces(ca, leaf, {{0x5A, 0x5A, 0x5A, 0x5A}})), bad_nonce);  // bare octets
  EXPECT_EQ(error_of(request_with_nonces(ca, leaf, {octet_string(16), octet_string(16)})),
            "the OCSP request has more than one nonce");
}

TEST_F(OcspChecks, RefusesWhatRfc6960ForbidsBeforeSigning) {
  TokenCa ca = make_ca("ocsp-checks", "ca", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  IssuedKey leaf = make_leaf(ca);
  OcspRequest request = parse_ocsp_request(ca.openssl_request("-issuer ca.pem -cert leaf.pem", "req.der"));
  int signatures = 0;
  Signer counting_signer = [&](std::span<const std::uint8_t> tbs) {
    ++signatures;
    return ca.signer()(tbs);
  };
  auto error_of = [&](auto change) -> std::string {
    OcspResponseSpec spec{ca.certificate.get(), ca.scheme, {}, ca.now, ca.now, ca.now + kDay,
                          {{&request.queries[0], OcspStatus::kRevoked, ca.now - kDay, RevocationReason::kSuperseded}},
                          request.nonce};
    change(spec);
    try {
      make_ocsp_response(spec, counting_signer);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  };
  EXPECT_EQ(error_of([](OcspResponseSpec&) {}), "");
  EXPECT_EQ(signatures, 1);

  EXPECT_EQ(error_of([](OcspResponseSpec& s) { s.responder = nullptr; }),
            "the OCSP response has no responder certificate");
  EXPECT_EQ(error_of([](OcspResponseSpec& s) { s.answers.clear(); }), "the OCSP response answers no query");
  EXPECT_EQ(error_of([](OcspResponseSpec& s) { s.next_update = s.this_update; }),
            "the OCSP response's nextUpdate is not after its thisUpdate");
  EXPECT_EQ(error_of([](OcspResponseSpec& s) { s.answers[0].query = nullptr; }), "an OCSP answer has no query");
  EXPECT_EQ(error_of([](OcspResponseSpec& s) { s.answers[0].reason = RevocationReason::kRemoveFromCrl; }),
            "the serial 1001 has the reason removeFromCRL, which only a delta CRL may carry (RFC 5280 §5.3.1)");
  EXPECT_EQ(error_of([](OcspResponseSpec& s) { s.answers[0].reason = static_cast<RevocationReason>(7); }),
            "the serial 1001 has the unknown revocation reason 7");
  // The leaf is neither the CA nor an OCSP signer.
  EXPECT_EQ(error_of([&](OcspResponseSpec& s) { s.responder = leaf.certificate.get(); }),
            "the responder may not answer for the serial 1001: it is neither the CA the query names nor an OCSP "
            "signer that CA issued (RFC 6960 §4.2.2.2)");
  EXPECT_EQ(signatures, 1);
}

TEST_F(OcspChecks, RefusesASignatureThatDoesNotVerify) {
  TokenCa ca = make_ca("ocsp-checks", "ca", hsm::KeyType::kEcP256, hsm::SignatureScheme::kEcdsaSha256);
  IssuedKey leaf = make_leaf(ca);
  OcspRequest request = parse_ocsp_request(ca.openssl_request("-issuer ca.pem -cert leaf.pem", "req.der"));
  Signer wrong_bytes = [&](std::span<const std::uint8_t> tbs) {
    std::vector<std::uint8_t> other(tbs.begin(), tbs.end());
    other.back() ^= 0x01;
    return ca.signer()(other);
  };
  OcspResponseSpec spec{ca.certificate.get(), ca.scheme, {}, ca.now, ca.now, ca.now + kDay,
                        {{&request.queries[0], OcspStatus::kGood, 0, RevocationReason::kUnspecified}}, request.nonce};
  try {
    make_ocsp_response(spec, wrong_bytes);
    FAIL() << "a signature over other bytes was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("does not verify under the responder's public key"), kNotFound)
        << error.what();
  }
}

TEST(OcspErrorResponse, CarriesOnlyItsStatus) {
  for (auto [status, code] : {std::pair(OcspResponseStatus::kMalformedRequest, 1),
                              std::pair(OcspResponseStatus::kInternalError, 2),
                              std::pair(OcspResponseStatus::kTryLater, 3),
                              std::pair(OcspResponseStatus::kUnauthorized, 6)}) {
    // OCSPResponse { responseStatus ENUMERATED }, no responseBytes.
    EXPECT_EQ(ocsp_error_response(status),
              (std::vector<std::uint8_t>{0x30, 0x03, 0x0A, 0x01, static_cast<std::uint8_t>(code)}));
  }
  std::filesystem::path directory = testing::TestToken::instance().make_directory(test_name());
  std::vector<std::uint8_t> der = ocsp_error_response(OcspResponseStatus::kMalformedRequest);
  testing::write_file(directory / "error.der", std::string(der.begin(), der.end()));
  testing::CommandResult read =
      testing::run_command("cd '" + directory.string() + "' && openssl ocsp -respin error.der -resp_text");
  EXPECT_NE(read.out.find("Responder Error: malformedrequest (1)"), kNotFound) << read.out << read.err;
}

}  // namespace
}  // namespace custos::x509
