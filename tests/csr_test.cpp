// Requests as clients send them, made here with OpenSSL and software keys
// (the requesters' keys, never a CA's): a good request is read field by
// field from PEM or DER, and every way a request can be broken, weak or
// oversized is refused with the right exception and a message that says why.
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "appliance/x509/csr.h"
#include "appliance/x509/name.h"
#include "common/openssl.h"
#include "tests/support/requests.h"

namespace custos::x509 {
namespace {

using testing::ec_key;
using testing::edwards_key;
using testing::make_request;
using testing::pem;
using testing::rsa_key;
using testing::san_extension;

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

ossl::Ptr<X509_NAME> empty_name() { return ossl::Ptr<X509_NAME>(X509_NAME_new()); }

struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

// A directoryName needs a configuration section in OpenSSL's syntax, so this
// one is assembled by hand.
ossl::Ptr<X509_EXTENSION> directory_name_san() {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(sk_GENERAL_NAME_new_null());
  GENERAL_NAME* name = GENERAL_NAME_new();
  GENERAL_NAME_set0_value(name, GEN_DIRNAME, parse_name("CN=Somebody,O=Example").release());
  sk_GENERAL_NAME_push(names.get(), name);
  return ossl::Ptr<X509_EXTENSION>(X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()));
}

// An extension Custos knows nothing about, whose value is a DER NULL.
ossl::Ptr<X509_EXTENSION> private_extension(const std::string& oid) {
  static constexpr std::uint8_t kNull[] = {0x05, 0x00};
  ossl::Ptr<ASN1_OBJECT> object(OBJ_txt2obj(oid.c_str(), 1));
  ossl::Ptr<ASN1_STRING> value(ASN1_OCTET_STRING_new());
  if (!object || !value || ASN1_OCTET_STRING_set(value.get(), kNull, sizeof kNull) != 1) {
    throw Error("building the extension " + oid + ": " + ossl::last_error());
  }
  return ossl::Ptr<X509_EXTENSION>(X509_EXTENSION_create_by_OBJ(nullptr, object.get(), 0, value.get()));
}

// The message of the `Expected` exception check_request throws for `input`;
// any other outcome comes back as a message that names it, so the substring
// checks below fail and show what happened instead.
template <typename Expected>
std::string failure(std::span<const std::uint8_t> input) {
  try {
    check_request(input);
  } catch (const Expected& error) {
    return error.what();
  } catch (const std::exception& error) {
    return std::string("a different exception: ") + error.what();
  }
  return "no exception";
}

std::string malformed(std::span<const std::uint8_t> input) { return failure<MalformedRequest>(input); }
std::string rejected(std::span<const std::uint8_t> input) { return failure<RejectedRequest>(input); }

TEST(CheckRequest, ReadsEveryFieldOfAnEcP256RequestFromPemOrDer) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  ossl::Ptr<X509_EXTENSION> san = san_extension(
      "DNS:www.example.com, IP:192.0.2.7, IP:2001:db8::7, email:admin@example.com, URI:https://example.com/enroll");
  std::vector<std::uint8_t> der =
      make_request(key.get(), parse_name("CN=www.example.com,O=Example").get(), {san.get()});

  CheckedRequest checked = check_request(der);
  EXPECT_EQ(checked.der, der);
  EXPECT_EQ(checked.subject, "CN=www.example.com,O=Example");
  ASSERT_EQ(checked.san.size(), 5u);
  EXPECT_EQ(checked.san[0].type, "dns");
  EXPECT_EQ(checked.san[0].value, "www.example.com");
  EXPECT_EQ(checked.san[1].type, "ip");
  EXPECT_EQ(checked.san[1].value, "192.0.2.7");
  EXPECT_EQ(checked.san[2].type, "ip");
  EXPECT_EQ(checked.san[2].value, "2001:db8::7");
  EXPECT_EQ(checked.san[3].type, "email");
  EXPECT_EQ(checked.san[3].value, "admin@example.com");
  EXPECT_EQ(checked.san[4].type, "uri");
  EXPECT_EQ(checked.san[4].value, "https://example.com/enroll");
  EXPECT_EQ(checked.key.type, "ec");
  EXPECT_EQ(checked.key.curve, "P-256");
  EXPECT_EQ(checked.key.bits, 0);
  EXPECT_EQ(checked.key_type, "ec-p256");
  EXPECT_EQ(checked.public_key, ossl::to_der(key.get(), i2d_PUBKEY, "the test key"));
  ASSERT_EQ(checked.requested_extensions.size(), 1u);
  EXPECT_EQ(checked.requested_extensions[0].oid, "2.5.29.17");
  EXPECT_FALSE(checked.requested_extensions[0].critical);
  ASSERT_FALSE(checked.requested_extensions[0].der.empty());
  EXPECT_EQ(checked.requested_extensions[0].der.front(), 0x30);  // GeneralNames, not its OCTET STRING

  EXPECT_EQ(check_request(bytes(pem("CERTIFICATE REQUEST", der))).der, der);
  EXPECT_EQ(check_request(bytes("\n" + pem("NEW CERTIFICATE REQUEST", der) + "\n\n")).der, der);
  EXPECT_EQ(request_der(bytes(pem("CERTIFICATE REQUEST", der))), der);
}

TEST(CheckRequest, NamesEachAcceptedKeyType) {
  ossl::Ptr<EVP_PKEY> rsa = rsa_key(2048, 65537);
  ossl::Ptr<EVP_PKEY> p384 = ec_key("P-384");
  ossl::Ptr<EVP_PKEY> ed25519 = edwards_key("ED25519");

  CheckedRequest checked_rsa = check_request(make_request(rsa.get(), parse_name("CN=rsa").get()));
  EXPECT_EQ(checked_rsa.key_type, "rsa-2048");
  EXPECT_EQ(checked_rsa.key.type, "rsa");
  EXPECT_EQ(checked_rsa.key.bits, 2048);
  CheckedRequest checked_p384 = check_request(make_request(p384.get(), parse_name("CN=p384").get()));
  EXPECT_EQ(checked_p384.key_type, "ec-p384");
  EXPECT_EQ(checked_p384.key.curve, "P-384");
  CheckedRequest checked_ed25519 = check_request(make_request(ed25519.get(), parse_name("CN=ed25519").get()));
  EXPECT_EQ(checked_ed25519.key_type, "ed25519");
  EXPECT_EQ(checked_ed25519.key.type, "ed25519");
  EXPECT_TRUE(checked_ed25519.requested_extensions.empty());
}

TEST(CheckRequest, MultiValuedRdnIsAcceptedInDerOrderOnly) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  ossl::Ptr<X509_NAME> subject(X509_NAME_new());
  auto add = [&](const char* type, const char* value, int set) {
    X509_NAME_add_entry_by_txt(subject.get(), type, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value), -1,
                               -1, set);
  };
  add("O", "Example", 0);
  add("OU", "PKI", 0);
  add("CN", "Both", -1);  // joins the RDN of OU
  std::vector<std::uint8_t> der = make_request(key.get(), subject.get());
  EXPECT_EQ(check_request(der).subject, "CN=Both+OU=PKI,O=Example");

  // DER sorts the values of a SET OF: OU (12 bytes) before CN (13 bytes).
  // Swapped, the subject is BER of the same length, which OpenSSL would
  // otherwise write back unchanged.
  const std::vector<std::uint8_t> organizational_unit = {0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x0b,  // OU
                                                         0x0c, 0x03, 'P',  'K',  'I'};
  const std::vector<std::uint8_t> common_name = {0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03,  // CN
                                                 0x0c, 0x04, 'B',  'o',  't',  'h'};
  auto position = std::search(der.begin(), der.end(), organizational_unit.begin(), organizational_unit.end());
  ASSERT_NE(position, der.end());
  ASSERT_TRUE(std::equal(common_name.begin(), common_name.end(), position + 12));
  std::copy(common_name.begin(), common_name.end(), position);
  std::copy(organizational_unit.begin(), organizational_unit.end(), position + 13);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "BER, not DER", malformed(der));
}

TEST(CheckRequest, RejectsASignatureThatDoesNotVerify) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  std::vector<std::uint8_t> flipped = make_request(key.get(), parse_name("CN=flipped").get());
  flipped.back() ^= 0x01;  // the last byte of the signature BIT STRING
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "signature does not verify", rejected(flipped));

  ossl::Ptr<EVP_PKEY> other_key = ec_key("P-256");
  std::vector<std::uint8_t> signed_by_another =
      make_request(key.get(), parse_name("CN=borrowed").get(), {}, other_key.get());
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not signed by the key it carries", rejected(signed_by_another));
}

TEST(CheckRequest, InputThatIsNotOneDerRequestIsMalformed) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  std::vector<std::uint8_t> der = make_request(key.get(), parse_name("CN=strict").get());

  std::vector<std::uint8_t> truncated(der.begin(), der.end() - 10);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not a PKCS#10 certificate request", malformed(truncated));

  std::vector<std::uint8_t> trailing = der;
  trailing.insert(trailing.end(), {0x00, 0x01, 0x02});
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "3 bytes after the request", malformed(trailing));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "bytes after the request",
                      malformed(bytes(pem("CERTIFICATE REQUEST", der) + "garbage\n")));

  // The outer length written with a needless leading zero byte: valid BER, not DER.
  std::vector<std::uint8_t> ber = der;
  ASSERT_TRUE(ber[1] == 0x81 || ber[1] == 0x82);
  ber.insert(ber.begin() + 2, 0x00);
  ber[1] += 1;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "BER, not DER", malformed(ber));

  // The same inside the CertificationRequestInfo, whose parsed bytes OpenSSL
  // would write back unchanged. Twenty names make both lengths two bytes long.
  std::string names = "DNS:host0.example.com";
  for (int i = 1; i < 20; ++i) names += ", DNS:host" + std::to_string(i) + ".example.com";
  ossl::Ptr<X509_EXTENSION> san = san_extension(names.c_str());
  std::vector<std::uint8_t> info_ber = make_request(key.get(), parse_name("CN=strict").get(), {san.get()});
  ASSERT_EQ(info_ber[1], 0x82);
  ASSERT_EQ(info_ber[5], 0x82);
  info_ber[5] = 0x83;
  info_ber.insert(info_ber.begin() + 6, 0x00);
  unsigned outer_length = (info_ber[2] << 8 | info_ber[3]) + 1u;
  info_ber[2] = static_cast<std::uint8_t>(outer_length >> 8);
  info_ber[3] = static_cast<std::uint8_t>(outer_length & 0xFF);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "BER, not DER", malformed(info_ber));

  std::mt19937 generator(20240611);
  std::vector<std::uint8_t> random(512);
  for (std::uint8_t& byte : random) byte = static_cast<std::uint8_t>(generator());
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not a PKCS#10 certificate request", malformed(random));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "the request is empty", malformed({}));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "the request is empty", malformed(bytes(" \n")));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "PEM request does not decode",
                      malformed(bytes("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n")));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "is a CERTIFICATE, not a CERTIFICATE REQUEST",
                      malformed(bytes(pem("CERTIFICATE", der))));
}

TEST(CheckRequest, RefusesAMegabyteBeforeParsingIt) {
  std::string megabyte(1'048'576, 'A');
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "the request is 1048576 bytes; at most 65536 are accepted",
                      malformed(bytes(megabyte)));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "at most 65536 are accepted",
                      malformed(bytes("-----BEGIN CERTIFICATE REQUEST-----\n" + megabyte)));
  EXPECT_THROW(request_der(bytes(megabyte)), MalformedRequest);
}

TEST(CheckRequest, RejectsWeakRsaKeys) {
  ossl::Ptr<EVP_PKEY> short_key = rsa_key(1024, 65537);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "1024 bits; at least 2048 are required",
                      rejected(make_request(short_key.get(), parse_name("CN=short").get())));
  ossl::Ptr<EVP_PKEY> exponent_three = rsa_key(2048, 3);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "public exponent is 3; only 65537 is accepted",
                      rejected(make_request(exponent_three.get(), parse_name("CN=three").get())));
}

TEST(CheckRequest, RejectsCurvesOtherThanP256AndP384ByName) {
  ossl::Ptr<EVP_PKEY> secp256k1 = ec_key("secp256k1");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "on the curve secp256k1",
                      rejected(make_request(secp256k1.get(), parse_name("CN=k1").get())));
  ossl::Ptr<EVP_PKEY> p521 = ec_key("P-521");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "on the curve P-521; only P-256 and P-384 are accepted",
                      rejected(make_request(p521.get(), parse_name("CN=p521").get())));
  ossl::Ptr<EVP_PKEY> brainpool = ec_key("brainpoolP256r1");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "on the curve brainpoolP256r1",
                      rejected(make_request(brainpool.get(), parse_name("CN=brainpool").get())));
}

TEST(CheckRequest, RejectsOtherKeyAlgorithmsByName) {
  ossl::Ptr<EVP_PKEY> ed448 = edwards_key("ED448");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "the request's key is ED448",
                      rejected(make_request(ed448.get(), parse_name("CN=ed448").get())));
  // X25519 cannot sign; the key is refused before its signature is looked at.
  ossl::Ptr<EVP_PKEY> x25519 = edwards_key("X25519");
  ossl::Ptr<EVP_PKEY> signer = edwards_key("ED25519");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "the request's key is X25519",
                      rejected(make_request(x25519.get(), parse_name("CN=x25519").get(), {}, signer.get())));
}

TEST(CheckRequest, RejectsMoreThanThirtyTwoExtensions) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  std::vector<ossl::Ptr<X509_EXTENSION>> owned;
  std::vector<X509_EXTENSION*> extensions;
  for (int i = 1; i <= 40; ++i) {
    owned.push_back(private_extension("1.3.6.1.4.1.55555.1." + std::to_string(i)));
    extensions.push_back(owned.back().get());
  }
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "asks for 40 extensions; at most 32 are accepted",
                      rejected(make_request(key.get(), parse_name("CN=many").get(), extensions)));

  extensions.resize(32);
  EXPECT_EQ(
      check_request(make_request(key.get(), parse_name("CN=enough").get(), extensions)).requested_extensions.size(),
      32u);
}

TEST(CheckRequest, RejectsADuplicateExtension) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  ossl::Ptr<X509_EXTENSION> first = private_extension("1.3.6.1.4.1.55555.7");
  ossl::Ptr<X509_EXTENSION> second = private_extension("1.3.6.1.4.1.55555.7");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "the extension 1.3.6.1.4.1.55555.7 more than once",
                      rejected(make_request(key.get(), parse_name("CN=twice").get(), {first.get(), second.get()})));
}

TEST(CheckRequest, RejectsSubjectAltNameTypesOtherThanDnsIpEmailAndUri) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  ossl::Ptr<X509_EXTENSION> other_name = san_extension("otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@example.com");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "has an entry of type otherName",
                      rejected(make_request(key.get(), parse_name("CN=upn").get(), {other_name.get()})));
  ossl::Ptr<X509_EXTENSION> directory_name = directory_name_san();
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "has an entry of type directoryName",
                      rejected(make_request(key.get(), parse_name("CN=dir").get(), {directory_name.get()})));
  ossl::Ptr<X509_EXTENSION> spaced = san_extension("DNS:bad name.example.com");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "a DNS name in the request's subjectAltName",
                      rejected(make_request(key.get(), parse_name("CN=spaced").get(), {spaced.get()})));
}

TEST(CheckRequest, AnEmptySubjectNeedsASubjectAltName) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "neither a subject nor a subjectAltName",
                      rejected(make_request(key.get(), empty_name().get())));
  ossl::Ptr<X509_EXTENSION> san = san_extension("DNS:only.example.com");
  CheckedRequest checked = check_request(make_request(key.get(), empty_name().get(), {san.get()}));
  EXPECT_EQ(checked.subject, "");
  ASSERT_EQ(checked.san.size(), 1u);
  EXPECT_EQ(checked.san[0].value, "only.example.com");
}

// The request's key is built from its bytes, not by OpenSSL's decoders
// (csr.cpp says why): it must be the very key OpenSSL decodes from them.
TEST(CheckRequest, TheKeyItBuildsIsTheKeyOpenSslDecodes) {
  std::vector<ossl::Ptr<EVP_PKEY>> keys;
  keys.push_back(ec_key("P-256"));
  keys.push_back(ec_key("P-384"));
  keys.push_back(rsa_key(2048, 65537));
  keys.push_back(edwards_key("ED25519"));
  for (const ossl::Ptr<EVP_PKEY>& key : keys) {
    CheckedRequest checked = check_request(make_request(key.get(), parse_name("CN=same key").get()));
    ASSERT_NE(checked.public_key_object, nullptr);
    EXPECT_EQ(EVP_PKEY_eq(checked.public_key_object.get(), key.get()), 1) << checked.key_type;
    const unsigned char* cursor = checked.public_key.data();
    ossl::Ptr<EVP_PKEY> decoded(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(checked.public_key.size())));
    ASSERT_NE(decoded, nullptr);
    EXPECT_EQ(EVP_PKEY_eq(checked.public_key_object.get(), decoded.get()), 1) << checked.key_type;
  }
}

// Where `request`'s SubjectPublicKeyInfo starts; it is `key`'s.
std::size_t key_info_offset(const std::vector<std::uint8_t>& request, EVP_PKEY* key) {
  std::vector<std::uint8_t> key_info = ossl::to_der(key, i2d_PUBKEY, "the test key");
  auto found = std::search(request.begin(), request.end(), key_info.begin(), key_info.end());
  if (found == request.end()) throw Error("the test key is not in the test request");
  return static_cast<std::size_t>(found - request.begin());
}

TEST(CheckRequest, RefusesAnEcKeyOffItsCurveOrNotWholeBytes) {
  ossl::Ptr<EVP_PKEY> key = ec_key("P-256");
  std::vector<std::uint8_t> request = make_request(key.get(), parse_name("CN=point").get());
  // A P-256 SubjectPublicKeyInfo is 91 bytes: 23 of algorithm, then the BIT
  // STRING's 2-byte header, its unused-bits byte and the 65-byte point.
  std::size_t offset = key_info_offset(request, key.get());
  std::size_t unused_bits = offset + 91 - 66;
  std::size_t last_byte = offset + 90;
  ASSERT_EQ(request[unused_bits], 0x00);

  std::vector<std::uint8_t> off_curve = request;
  off_curve[last_byte] ^= 0x01;  // y changed, x kept: no longer a point of P-256
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "key does not decode", rejected(off_curve));

  std::vector<std::uint8_t> partial_byte = request;
  partial_byte[unused_bits] = 0x01;
  partial_byte[last_byte] &= 0xFE;  // the unused bit is zero, as DER has it
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "public key is not a whole number of bytes", rejected(partial_byte));
}

// `key`'s request with the key's AlgorithmIdentifier parameters replaced.
std::vector<std::uint8_t> request_with_key_parameters(EVP_PKEY* key, int parameter_type, void* parameter) {
  ossl::Ptr<X509_REQ> request(X509_REQ_new());
  X509_ALGOR* algorithm = nullptr;
  if (!request || X509_REQ_set_version(request.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(request.get(), parse_name("CN=parameters").get()) != 1 ||
      X509_REQ_set_pubkey(request.get(), key) != 1 ||
      X509_PUBKEY_get0_param(nullptr, nullptr, nullptr, &algorithm, X509_REQ_get_X509_PUBKEY(request.get())) != 1) {
    throw Error("building a test request: " + ossl::last_error());
  }
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
  if (X509_ALGOR_set0(algorithm, OBJ_dup(oid), parameter_type, parameter) != 1) {
    throw Error("setting a test key's parameters: " + ossl::last_error());
  }
  bool edwards = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
  if (X509_REQ_sign(request.get(), key, edwards ? nullptr : EVP_sha256()) <= 0) {
    throw Error("signing a test request: " + ossl::last_error());
  }
  return ossl::to_der(request.get(), i2d_X509_REQ, "a test request");
}

TEST(CheckRequest, KeyParametersAreWhatTheAlgorithmsRfcAllows) {
  ossl::Ptr<EVP_PKEY> rsa = rsa_key(2048, 65537);
  EXPECT_PRED_FORMAT2(
      ::testing::IsSubstring, "rsaEncryption's are NULL",
      rejected(request_with_key_parameters(rsa.get(), V_ASN1_OBJECT, OBJ_nid2obj(NID_sha256))));
  // Absent, as some encoders write it and OpenSSL reads it.
  EXPECT_EQ(check_request(request_with_key_parameters(rsa.get(), V_ASN1_UNDEF, nullptr)).key_type, "rsa-2048");

  ossl::Ptr<EVP_PKEY> ed25519 = edwards_key("ED25519");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "Ed25519 key has algorithm parameters",
                      rejected(request_with_key_parameters(ed25519.get(), V_ASN1_NULL, nullptr)));
}

}  // namespace
}  // namespace custos::x509
