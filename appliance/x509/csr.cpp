#include "appliance/x509/csr.h"

#include <arpa/inet.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>

#include "appliance/x509/name.h"
#include "common/openssl.h"

namespace custos::x509 {
namespace {

constexpr int kMaxRequestedExtensions = 32;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;
constexpr unsigned kRsaPublicExponent = 65537;
constexpr std::string_view kWhitespace = " \t\r\n";

// Owners for what common/openssl.h has no deleter for; the stacks free their elements too.
struct OpensslFree {
  void operator()(void* memory) const { OPENSSL_free(memory); }
};
struct ExtensionsFree {
  void operator()(STACK_OF(X509_EXTENSION) * extensions) const {
    sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  }
};
using Extensions = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionsFree>;
using GeneralNames = ossl::Ptr<GENERAL_NAMES>;

std::string bytes_after_the_request(std::size_t count) {
  return "there are " + std::to_string(count) + " bytes after the request";
}

std::string object_text(const ASN1_OBJECT* object, bool dotted) {
  int length = OBJ_obj2txt(nullptr, 0, object, dotted ? 1 : 0);
  if (length <= 0) return "an unreadable object identifier";
  std::string text(static_cast<std::size_t>(length) + 1, '\0');
  OBJ_obj2txt(text.data(), length + 1, object, dotted ? 1 : 0);
  text.resize(static_cast<std::size_t>(length));
  return text;
}

std::vector<std::uint8_t> string_bytes(const ASN1_STRING* string) {
  const unsigned char* data = ASN1_STRING_get0_data(string);
  return {data, data + ASN1_STRING_length(string)};
}

std::vector<std::uint8_t> decode_pem(std::span<const std::uint8_t> input) {
  ossl::Ptr<BIO> bio(BIO_new_mem_buf(input.data(), static_cast<int>(input.size())));
  char* label = nullptr;
  char* headers = nullptr;
  unsigned char* data = nullptr;
  long length = 0;
  int decoded = bio ? PEM_read_bio(bio.get(), &label, &headers, &data, &length) : 0;
  std::unique_ptr<char, OpensslFree> owned_label(label);
  std::unique_ptr<char, OpensslFree> owned_headers(headers);
  std::unique_ptr<unsigned char, OpensslFree> owned_data(data);
  if (decoded != 1) throw MalformedRequest("the PEM request does not decode: " + ossl::last_error());

  if (std::string_view(label) != PEM_STRING_X509_REQ && std::string_view(label) != PEM_STRING_X509_REQ_OLD) {
    throw MalformedRequest(std::string("the PEM block is a ") + label + ", not a CERTIFICATE REQUEST");
  }
  if (*headers != '\0') {
    throw MalformedRequest("the PEM request has headers (Proc-Type, DEK-Info); only a plain request is accepted");
  }
  auto unread = static_cast<std::size_t>(BIO_pending(bio.get()));
  std::string_view rest(reinterpret_cast<const char*>(input.data()) + (input.size() - unread), unread);
  if (rest.find_first_not_of(kWhitespace) != std::string_view::npos) {
    throw MalformedRequest(bytes_after_the_request(unread));
  }
  return {data, data + length};
}

// X509_NAME keeps the bytes it was parsed from and writes them back as they
// were, so only a copy built entry by entry shows whether they were DER.
bool name_is_der(const X509_NAME* name) {
  ossl::Ptr<X509_NAME> copy(X509_NAME_new());
  if (!copy) throw Error("copying the request's subject: " + ossl::last_error());
  int previous_set = -1;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int set = X509_NAME_ENTRY_set(entry);
    // -1 joins the RDN of the entry before (a multi-valued RDN), 0 starts a new one.
    if (X509_NAME_add_entry(copy.get(), entry, -1, set == previous_set ? -1 : 0) != 1) {
      throw Error("copying the request's subject: " + ossl::last_error());
    }
    previous_set = set;
  }
  const unsigned char* original = nullptr;
  std::size_t original_length = 0;
  X509_NAME_get0_der(name, &original, &original_length);
  return std::ranges::equal(ossl::to_der(copy.get(), i2d_X509_NAME, "the request's subject"),
                            std::span(original, original_length));
}

// PKCS#10 (RFC 2986) as three ASN.1 types of our own. OpenSSL's X509_REQ
// is the same structure, but its SubjectPublicKeyInfo type decodes the key
// on every parse, and OpenSSL 3.0 does that by setting up its decoder
// framework for each key (OSSL_DECODER_CTX_new_for_pkey): 60 % of a
// request's check, about 100 µs. Here the key stays an algorithm and bytes
// until request_key builds it, and nothing else in the request is read any
// differently: names, attributes and algorithms are OpenSSL's own types.
struct RequestKeyInfo {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* key;
};
struct RequestInfo {
  ASN1_INTEGER* version;
  X509_NAME* subject;
  RequestKeyInfo* key_info;
  STACK_OF(X509_ATTRIBUTE) * attributes;
};
struct Request {
  RequestInfo* info;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};

ASN1_SEQUENCE(RequestKeyInfo) = {
    ASN1_SIMPLE(RequestKeyInfo, algorithm, X509_ALGOR),
    ASN1_SIMPLE(RequestKeyInfo, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(RequestKeyInfo)

// The attributes are optional here, as in OpenSSL's X509_REQ_INFO, so that
// the requests OpenSSL reads are the requests Custos reads.
ASN1_SEQUENCE(RequestInfo) = {
    ASN1_SIMPLE(RequestInfo, version, ASN1_INTEGER),
    ASN1_SIMPLE(RequestInfo, subject, X509_NAME),
    ASN1_SIMPLE(RequestInfo, key_info, RequestKeyInfo),
    ASN1_IMP_SET_OF_OPT(RequestInfo, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END(RequestInfo)

ASN1_SEQUENCE(Request) = {
    ASN1_SIMPLE(Request, info, RequestInfo),
    ASN1_SIMPLE(Request, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(Request, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(Request)

using RequestType = ossl::Asn1Type<Request, Request_it>;
using RequestKeyInfoType = ossl::Asn1Type<RequestKeyInfo, RequestKeyInfo_it>;
using ParsedRequest = RequestType::Owned;

// One PKCS#10 request and nothing after it; its key is not decoded.
ParsedRequest parse_request(std::span<const std::uint8_t> der) {
  const unsigned char* cursor = der.data();
  ParsedRequest request = RequestType::parse(cursor, der.size());
  if (!request) throw MalformedRequest("the input is not a PKCS#10 certificate request: " + ossl::last_error());
  if (cursor != der.data() + der.size()) {
    throw MalformedRequest(bytes_after_the_request(static_cast<std::size_t>(der.data() + der.size() - cursor)));
  }
  return request;
}

// The request, parsed only if `der` is exactly its DER encoding: what is
// stored, what the signature covers and what a certificate later copies
// must be the same bytes, read one way only. Only the subject keeps the
// bytes it was parsed from, so the rest encodes afresh.
ParsedRequest parse_der(const std::vector<std::uint8_t>& der) {
  ParsedRequest request = parse_request(der);
  if (ossl::to_der(request.get(), RequestType::encode, "the request") != der || !name_is_der(request->info->subject)) {
    throw MalformedRequest("the request is BER, not DER: it does not encode back to the same bytes");
  }
  return request;
}

// RFC 5480 requires a named curve; explicit parameters could describe any
// group at all.
KeyDescription check_curve(const X509_ALGOR* algorithm) {
  int parameter_type = V_ASN1_UNDEF;
  const void* parameter = nullptr;
  X509_ALGOR_get0(nullptr, &parameter_type, &parameter, algorithm);
  if (parameter_type != V_ASN1_OBJECT) {
    throw RejectedRequest(
        "the request's EC key spells out its curve's parameters; only the named curves P-256 and "
        "P-384 are accepted");
  }
  const auto* curve = static_cast<const ASN1_OBJECT*>(parameter);
  int curve_nid = OBJ_obj2nid(curve);
  if (curve_nid == NID_X9_62_prime256v1) return {"ec", "P-256", 0};
  if (curve_nid == NID_secp384r1) return {"ec", "P-384", 0};
  const char* nist_name = EC_curve_nid2nist(curve_nid);
  throw RejectedRequest("the request's EC key is on the curve " +
                        (nist_name != nullptr ? std::string(nist_name) : object_text(curve, false)) +
                        "; only P-256 and P-384 are accepted");
}

KeyDescription check_rsa(const EVP_PKEY* key) {
  int bits = EVP_PKEY_get_bits(key);
  if (bits < kMinRsaBits) {
    throw RejectedRequest("the request's RSA key has " + std::to_string(bits) + " bits; at least " +
                          std::to_string(kMinRsaBits) + " are required");
  }
  if (bits > kMaxRsaBits) {
    throw RejectedRequest("the request's RSA key has " + std::to_string(bits) + " bits; at most " +
                          std::to_string(kMaxRsaBits) + " are accepted");
  }
  BIGNUM* exponent_value = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exponent_value) != 1) {
    throw RejectedRequest("reading the request's RSA public exponent: " + ossl::last_error());
  }
  ossl::Ptr<BIGNUM> exponent(exponent_value);
  if (!BN_is_word(exponent.get(), kRsaPublicExponent)) {
    int exponent_bits = BN_num_bits(exponent.get());
    std::string shown = exponent_bits <= 32 ? std::to_string(BN_get_word(exponent.get()))
                                            : "a " + std::to_string(exponent_bits) + "-bit number";
    throw RejectedRequest("the request's RSA public exponent is " + shown + "; only " +
                          std::to_string(kRsaPublicExponent) + " is accepted");
  }
  return {"rsa", "", bits};
}

// RSAPublicKey (RFC 8017, A.1.1), the contents of an RSA key's BIT STRING.
struct RsaPublicKey {
  ASN1_INTEGER* modulus;
  ASN1_INTEGER* exponent;
};

ASN1_SEQUENCE(RsaPublicKey) = {
    ASN1_SIMPLE(RsaPublicKey, modulus, ASN1_INTEGER),
    ASN1_SIMPLE(RsaPublicKey, exponent, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(RsaPublicKey)

using RsaPublicKeyType = ossl::Asn1Type<RsaPublicKey, RsaPublicKey_it>;

// A key of `type` from its parameters, as OpenSSL's key manager imports
// them; null when it refuses them (an EC point off its curve, say).
ossl::Ptr<EVP_PKEY> key_from_parameters(const char* type, OSSL_PARAM* parameters) {
  ossl::Ptr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, parameters) != 1) {
    return nullptr;
  }
  return ossl::Ptr<EVP_PKEY>(key);
}

ossl::Ptr<EVP_PKEY> ec_key(const std::string& curve, std::span<const std::uint8_t> point) {
  OSSL_PARAM parameters[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(curve.c_str()), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<std::uint8_t*>(point.data()),
                                        point.size()),
      OSSL_PARAM_construct_end()};
  return key_from_parameters("EC", parameters);
}

ossl::Ptr<EVP_PKEY> rsa_key(std::span<const std::uint8_t> der) {
  const unsigned char* cursor = der.data();
  RsaPublicKeyType::Owned numbers = RsaPublicKeyType::parse(cursor, der.size());
  if (!numbers || cursor != der.data() + der.size() ||
      !std::ranges::equal(ossl::to_der(numbers.get(), RsaPublicKeyType::encode, "the request's RSA key"), der) ||
      ASN1_STRING_type(numbers->modulus) != V_ASN1_INTEGER || ASN1_STRING_type(numbers->exponent) != V_ASN1_INTEGER) {
    ERR_clear_error();
    throw RejectedRequest("the request's RSA key is not one DER RSAPublicKey of two positive integers");
  }
  ossl::Ptr<BIGNUM> modulus(ASN1_INTEGER_to_BN(numbers->modulus, nullptr));
  ossl::Ptr<BIGNUM> exponent(ASN1_INTEGER_to_BN(numbers->exponent, nullptr));
  ossl::Ptr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  if (!modulus || !exponent || !builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
    throw Error("reading the request's RSA key: " + ossl::last_error());
  }
  ossl::Ptr<OSSL_PARAM> parameters(OSSL_PARAM_BLD_to_param(builder.get()));
  if (!parameters) throw Error("reading the request's RSA key: " + ossl::last_error());
  return key_from_parameters("RSA", parameters.get());
}

struct RequestKey {
  KeyDescription description;
  ossl::Ptr<EVP_PKEY> key;
};

// The algorithm and the curve are judged from the SubjectPublicKeyInfo
// before the key is built, so that a key OpenSSL could not build (on an
// unknown curve, say) is still refused by name. Each algorithm's
// parameters are what its RFC says: a named curve for EC (RFC 5480), NULL
// for RSA (RFC 3279, which OpenSSL also reads when absent), none for
// Ed25519 (RFC 8410).
RequestKey request_key(const RequestKeyInfo& key_info) {
  const ASN1_OBJECT* algorithm_oid = nullptr;
  int parameter_type = V_ASN1_UNDEF;
  X509_ALGOR_get0(&algorithm_oid, &parameter_type, nullptr, key_info.algorithm);
  int algorithm_nid = OBJ_obj2nid(algorithm_oid);
  if (algorithm_nid != EVP_PKEY_RSA && algorithm_nid != EVP_PKEY_EC && algorithm_nid != EVP_PKEY_ED25519) {
    throw RejectedRequest("the request's key is " + object_text(algorithm_oid, false) +
                          "; Custos accepts RSA, EC P-256 or P-384, and Ed25519 keys");
  }
  KeyDescription curve = algorithm_nid == EVP_PKEY_EC ? check_curve(key_info.algorithm) : KeyDescription{};
  std::span<const std::uint8_t> bytes(ASN1_STRING_get0_data(key_info.key),
                                      static_cast<std::size_t>(ASN1_STRING_length(key_info.key)));
  // The unused-bits count of the BIT STRING, as OpenSSL's reader keeps it.
  if ((key_info.key->flags & 0x07) != 0) {
    throw RejectedRequest("the request's public key is not a whole number of bytes");
  }
  ossl::Ptr<EVP_PKEY> key;
  if (algorithm_nid == EVP_PKEY_EC) {
    key = ec_key(curve.curve, bytes);
  } else if (algorithm_nid == EVP_PKEY_RSA) {
    if (parameter_type != V_ASN1_NULL && parameter_type != V_ASN1_UNDEF) {
      throw RejectedRequest("the request's RSA key has algorithm parameters; rsaEncryption's are NULL");
    }
    key = rsa_key(bytes);
  } else {
    if (parameter_type != V_ASN1_UNDEF) throw RejectedRequest("the request's Ed25519 key has algorithm parameters");
    key.reset(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, bytes.data(), bytes.size()));
  }
  if (!key) {
    throw RejectedRequest("the request's " + object_text(algorithm_oid, false) +
                          " key does not decode: " + ossl::last_error());
  }
  if (algorithm_nid == EVP_PKEY_RSA) return {check_rsa(key.get()), std::move(key)};
  if (algorithm_nid == EVP_PKEY_ED25519) return {{"ed25519", "", 0}, std::move(key)};
  return {curve, std::move(key)};
}

std::string key_type_name(const KeyDescription& key) {
  if (key.type == "rsa") return "rsa-" + std::to_string(key.bits);
  if (key.type == "ec") return key.curve == "P-256" ? "ec-p256" : "ec-p384";
  return key.type;
}

// The DER of the request's extensionRequest attribute, or nothing when it
// asks for no extension. Microsoft's older OID for the attribute counts as
// the same attribute, as OpenSSL reads either.
std::optional<std::span<const std::uint8_t>> extension_request(const RequestInfo& info) {
  X509_ATTRIBUTE* found = nullptr;
  // sk_X509_ATTRIBUTE_num is -1 when the request has no attributes field.
  for (int i = 0; i < sk_X509_ATTRIBUTE_num(info.attributes); ++i) {
    X509_ATTRIBUTE* attribute = sk_X509_ATTRIBUTE_value(info.attributes, i);
    int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attribute));
    if (nid != NID_ext_req && nid != NID_ms_ext_req) continue;
    if (found != nullptr) throw RejectedRequest("the request has more than one extensionRequest attribute");
    found = attribute;
  }
  if (found == nullptr) return std::nullopt;
  const ASN1_TYPE* value = X509_ATTRIBUTE_count(found) == 1 ? X509_ATTRIBUTE_get0_type(found, 0) : nullptr;
  if (value == nullptr || value->type != V_ASN1_SEQUENCE) {
    throw RejectedRequest("the request's extensionRequest attribute does not hold exactly one list of extensions");
  }
  return std::span(ASN1_STRING_get0_data(value->value.sequence),
                   static_cast<std::size_t>(ASN1_STRING_length(value->value.sequence)));
}

// The attribute's value is kept as raw bytes inside the request, so it is
// held to DER here rather than by parse_der.
Extensions parse_extensions(std::span<const std::uint8_t> der) {
  const unsigned char* cursor = der.data();
  Extensions extensions(d2i_X509_EXTENSIONS(nullptr, &cursor, static_cast<long>(der.size())));
  if (!extensions) {
    throw RejectedRequest("the request's extensionRequest attribute is not a list of extensions: " +
                          ossl::last_error());
  }
  if (cursor != der.data() + der.size() ||
      !std::ranges::equal(ossl::to_der(extensions.get(), i2d_X509_EXTENSIONS, "the requested extensions"), der)) {
    throw RejectedRequest(
        "the request's extensionRequest attribute is not DER: it does not encode back to the "
        "same bytes");
  }
  return extensions;
}

// dNSName, rfc822Name and uniformResourceIdentifier are IA5String, and a
// space is valid in none of them; Custos hands them on as text, so control
// characters and bytes above ASCII are refused rather than escaped.
std::string ia5_text(const ASN1_IA5STRING* value, const char* what) {
  std::vector<std::uint8_t> bytes = string_bytes(value);
  if (bytes.empty() || !std::ranges::all_of(bytes, [](std::uint8_t byte) { return byte > 0x20 && byte < 0x7F; })) {
    throw RejectedRequest(std::string("a ") + what +
                          " in the request's subjectAltName is empty or has a space or a byte outside printable ASCII");
  }
  return {bytes.begin(), bytes.end()};
}

std::string ip_text(const ASN1_OCTET_STRING* address) {
  int length = ASN1_STRING_length(address);
  if (length != 4 && length != 16) {
    throw RejectedRequest("an IP address in the request's subjectAltName is " + std::to_string(length) +
                          " bytes; an address is 4 (IPv4) or 16 (IPv6)");
  }
  char text[INET6_ADDRSTRLEN];
  inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(address), text, sizeof text);
  return text;
}

// RFC 5280's names for the GeneralName choices Custos does not accept.
const char* refused_choice_name(int type) {
  switch (type) {
    case GEN_OTHERNAME:
      return "otherName";
    case GEN_X400:
      return "x400Address";
    case GEN_DIRNAME:
      return "directoryName";
    case GEN_EDIPARTY:
      return "ediPartyName";
    case GEN_RID:
      return "registeredID";
    default:
      return "unknown";
  }
}

void read_extensions(const RequestInfo& info, CheckedRequest& checked) {
  std::optional<std::span<const std::uint8_t>> der = extension_request(info);
  if (!der) return;
  Extensions extensions = parse_extensions(*der);
  int count = sk_X509_EXTENSION_num(extensions.get());
  if (count > kMaxRequestedExtensions) {
    throw RejectedRequest("the request asks for " + std::to_string(count) + " extensions; at most " +
                          std::to_string(kMaxRequestedExtensions) + " are accepted");
  }
  for (int i = 0; i < count; ++i) {
    X509_EXTENSION* extension = sk_X509_EXTENSION_value(extensions.get(), i);
    RequestedExtension requested{object_text(X509_EXTENSION_get_object(extension), true),
                                 X509_EXTENSION_get_critical(extension) == 1,
                                 string_bytes(X509_EXTENSION_get_data(extension))};
    if (std::ranges::any_of(checked.requested_extensions,
                            [&](const RequestedExtension& earlier) { return earlier.oid == requested.oid; })) {
      throw RejectedRequest("the request asks for the extension " + requested.oid + " more than once");
    }
    if (OBJ_obj2nid(X509_EXTENSION_get_object(extension)) == NID_subject_alt_name) {
      checked.san = parse_subject_alt_name(requested.der);
    }
    checked.requested_extensions.push_back(std::move(requested));
  }
}

}  // namespace

std::vector<SubjectAltName> parse_subject_alt_name(std::span<const std::uint8_t> der) {
  const unsigned char* cursor = der.data();
  GeneralNames names(d2i_GENERAL_NAMES(nullptr, &cursor, static_cast<long>(der.size())));
  if (!names || cursor != der.data() + der.size() ||
      !std::ranges::equal(ossl::to_der(names.get(), i2d_GENERAL_NAMES, "the subjectAltName"), der)) {
    ERR_clear_error();
    throw RejectedRequest("the request's subjectAltName does not parse as DER GeneralNames");
  }
  if (sk_GENERAL_NAME_num(names.get()) == 0) throw RejectedRequest("the request's subjectAltName is empty");

  std::vector<SubjectAltName> entries;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_DNS:
        entries.push_back({"dns", ia5_text(name->d.dNSName, "DNS name")});
        break;
      case GEN_IPADD:
        entries.push_back({"ip", ip_text(name->d.iPAddress)});
        break;
      case GEN_EMAIL:
        entries.push_back({"email", ia5_text(name->d.rfc822Name, "email address")});
        break;
      case GEN_URI:
        entries.push_back({"uri", ia5_text(name->d.uniformResourceIdentifier, "URI")});
        break;
      default:
        throw RejectedRequest(std::string("the request's subjectAltName has an entry of type ") +
                              refused_choice_name(name->type) +
                              "; Custos accepts DNS names, IP addresses, email addresses and URIs");
    }
  }
  return entries;
}


std::vector<std::uint8_t> request_der(std::span<const std::uint8_t> input) {
  if (input.size() > kMaxRequestBytes) {
    throw MalformedRequest("the request is " + std::to_string(input.size()) + " bytes; at most " +
                           std::to_string(kMaxRequestBytes) + " are accepted");
  }
  std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  std::size_t start = text.find_first_not_of(kWhitespace);
  if (start == std::string_view::npos) throw MalformedRequest("the request is empty");
  if (text.substr(start).starts_with("-----BEGIN ")) return decode_pem(input);
  return {input.begin(), input.end()};
}

CheckedRequest check_request(std::span<const std::uint8_t> input) {
  CheckedRequest checked;
  checked.der = request_der(input);
  ParsedRequest request = parse_der(checked.der);
  const RequestInfo& info = *request->info;

  long version = ASN1_INTEGER_get(info.version);
  if (version != X509_REQ_VERSION_1) {
    throw RejectedRequest("the request's version field is " + std::to_string(version) +
                          "; PKCS#10 defines only version 1, encoded as 0");
  }
  RequestKey key = request_key(*info.key_info);
  checked.key = key.description;
  checked.key_type = key_type_name(checked.key);
  // Proof of possession: only the holder of the private key can sign with
  // it. What X509_REQ_verify does, on this request's types.
  if (ASN1_item_verify_ex(ASN1_ITEM_rptr(RequestInfo), request->signature_algorithm, request->signature,
                          request->info, nullptr, key.key.get(), nullptr, nullptr) != 1) {
    ERR_clear_error();
    throw RejectedRequest("the request's signature does not verify: it was not signed by the key it carries");
  }
  read_extensions(info, checked);

  if (X509_NAME_entry_count(info.subject) == 0 && checked.san.empty()) {
    throw RejectedRequest("the request has neither a subject nor a subjectAltName: it names no one");
  }
  checked.subject = format_name(info.subject);
  checked.subject_name.reset(X509_NAME_dup(info.subject));
  if (!checked.subject_name) throw Error("copying the request's subject: " + ossl::last_error());
  checked.public_key = ossl::to_der(info.key_info, RequestKeyInfoType::encode, "the request's public key");
  checked.public_key_object = std::move(key.key);
  return checked;
}

void check_request_syntax(std::span<const std::uint8_t> der) { parse_request(der); }

}  // namespace custos::x509
