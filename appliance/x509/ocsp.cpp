#include "appliance/x509/ocsp.h"

#include "appliance/x509/lint.h"

#include <openssl/asn1t.h>

#include <algorithm>
#include <memory>

#include "appliance/x509/algorithm.h"

namespace custos::x509 {
namespace {

// RFC 6960 §4.2.1 ResponseData and BasicOCSPResponse, to encode with.
// OpenSSL's OCSP_RESPDATA and OCSP_BASICRESP are opaque, and only
// OCSP_basic_sign fills their responderID, producedAt and signature, with a
// private key OpenSSL holds, which a CA key never is. These two mirror them
// field for field, so that what they encode parses as OpenSSL's types. The
// fields borrow objects owned elsewhere: the structures are locals, never
// allocated or freed through their templates.
struct ResponseData {
  OCSP_RESPID* responder_id;
  ASN1_GENERALIZEDTIME* produced_at;
  STACK_OF(OCSP_SINGLERESP) * responses;
  STACK_OF(X509_EXTENSION) * extensions;  // null: none
};

struct BasicResponse {
  ResponseData* tbs_response_data;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
  STACK_OF(X509) * certs;  // null: none
};

// The version ([0] EXPLICIT DEFAULT v1) is left out, as DER leaves out a
// default value.
ASN1_SEQUENCE(ResponseData) = {
    ASN1_SIMPLE(ResponseData, responder_id, OCSP_RESPID),
    ASN1_SIMPLE(ResponseData, produced_at, ASN1_GENERALIZEDTIME),
    ASN1_SEQUENCE_OF(ResponseData, responses, OCSP_SINGLERESP),
    ASN1_EXP_SEQUENCE_OF_OPT(ResponseData, extensions, X509_EXTENSION, 1),
} static_ASN1_SEQUENCE_END(ResponseData)

ASN1_SEQUENCE(BasicResponse) = {
    ASN1_SIMPLE(BasicResponse, tbs_response_data, ResponseData),
    ASN1_SIMPLE(BasicResponse, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(BasicResponse, signature, ASN1_BIT_STRING),
    ASN1_EXP_SEQUENCE_OF_OPT(BasicResponse, certs, X509, 0),
} static_ASN1_SEQUENCE_END(BasicResponse)

using ResponseDataType = ossl::Asn1Type<ResponseData, ResponseData_it>;
using BasicResponseType = ossl::Asn1Type<BasicResponse, BasicResponse_it>;

// Stacks that lend their elements to the encoder: freeing one leaves the
// elements to their owners.
struct BorrowedSingleResponses {
  void operator()(STACK_OF(OCSP_SINGLERESP) * stack) const { sk_OCSP_SINGLERESP_free(stack); }
};
struct BorrowedExtensions {
  void operator()(STACK_OF(X509_EXTENSION) * stack) const { sk_X509_EXTENSION_free(stack); }
};

// The same for certificates (ossl::Ptr frees only the stack), which OpenSSL
// takes non-const and only reads; null for none, as an absent field needs.
ossl::Ptr<STACK_OF(X509)> lent_certificates(const std::vector<const X509*>& certificates) {
  if (certificates.empty()) return nullptr;
  ossl::Ptr<STACK_OF(X509)> stack(sk_X509_new_null());
  for (const X509* certificate : certificates) {
    if (!stack || sk_X509_push(stack.get(), const_cast<X509*>(certificate)) <= 0) {
      throw Error("listing the OCSP response's certificates: " + ossl::last_error());
    }
  }
  return stack;
}

std::vector<std::uint8_t> bytes_of(const ASN1_STRING* string) {
  const unsigned char* data = ASN1_STRING_get0_data(string);
  return {data, data + ASN1_STRING_length(string)};
}

// The CertID hashes RFC 6960 and RFC 5019 clients use; null for any other.
const EVP_MD* certificate_id_digest(const OcspQuery& query) {
  ASN1_OBJECT* algorithm = nullptr;
  OCSP_id_get0_info(nullptr, &algorithm, nullptr, nullptr, query.certificate_id.get());
  switch (OBJ_obj2nid(algorithm)) {
    case NID_sha1:
      return EVP_sha1();
    case NID_sha256:
      return EVP_sha256();
    case NID_sha384:
      return EVP_sha384();
    case NID_sha512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

// RFC 6960 §4.2.2.2: a delegated responder carries id-kp-OCSPSigning and
// was issued by the CA the query names. Only the name hash can be compared
// here; the key hash would need the CA's certificate, and a relying party
// checks the whole chain anyway.
bool delegated_for(const OcspQuery& query, const X509* responder) {
  ossl::Ptr<EXTENDED_KEY_USAGE> usages(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(responder, NID_ext_key_usage, nullptr, nullptr)));
  bool ocsp_signing = false;
  for (int i = 0; usages && i < sk_ASN1_OBJECT_num(usages.get()); ++i) {
    ocsp_signing = ocsp_signing || OBJ_obj2nid(sk_ASN1_OBJECT_value(usages.get(), i)) == NID_OCSP_sign;
  }
  const EVP_MD* digest = certificate_id_digest(query);
  if (!ocsp_signing || digest == nullptr) return false;
  ASN1_OCTET_STRING* name_hash = nullptr;
  OCSP_id_get0_info(&name_hash, nullptr, nullptr, nullptr, query.certificate_id.get());
  unsigned char issuer_hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_NAME_digest(X509_get_issuer_name(responder), digest, issuer_hash, &length) != 1) {
    throw Error("hashing the responder's issuer name: " + ossl::last_error());
  }
  return std::ranges::equal(bytes_of(name_hash), std::span(issuer_hash, length));
}

void check_spec(const OcspResponseSpec& spec) {
  if (spec.responder == nullptr) throw Error("the OCSP response has no responder certificate");
  if (spec.answers.empty()) throw Error("the OCSP response answers no query");
  if (spec.next_update <= spec.this_update) throw Error("the OCSP response's nextUpdate is not after its thisUpdate");
  for (const OcspAnswer& answer : spec.answers) {
    if (answer.query == nullptr || !answer.query->certificate_id) throw Error("an OCSP answer has no query");
    const std::string& serial = answer.query->serial_hex;
    if (answer.status == OcspStatus::kRevoked && answer.reason == RevocationReason::kRemoveFromCrl) {
      throw Error("the serial " + serial + " has the reason removeFromCRL, which only a delta CRL may carry (RFC 5280 "
                  "§5.3.1)");
    }
    if (answer.status == OcspStatus::kRevoked && !parse_revocation_reason(revocation_reason_name(answer.reason))) {
      throw Error("the serial " + serial + " has the unknown revocation reason " +
                  std::to_string(static_cast<int>(answer.reason)));
    }
    if (!issued_by(*answer.query, spec.responder) && !delegated_for(*answer.query, spec.responder)) {
      throw Error("the responder may not answer for the serial " + serial +
                  ": it is neither the CA the query names nor an OCSP signer that CA issued (RFC 6960 §4.2.2.2)");
    }
  }
}

ossl::Ptr<ASN1_STRING> generalized_time(std::time_t time, const char* what) {
  ossl::Ptr<ASN1_STRING> value(ASN1_GENERALIZEDTIME_set(nullptr, time));
  if (!value) throw Error(std::string("building the OCSP response's ") + what + ": " + ossl::last_error());
  return value;
}

// The SingleResponses, built by OCSP_basic_add1_status into a scratch
// OCSP_BASICRESP that owns them: OpenSSL offers no other way to fill its
// opaque OCSP_SINGLERESP. `responses` borrows them from `scratch`.
void add_single_responses(const OcspResponseSpec& spec, OCSP_BASICRESP* scratch,
                          STACK_OF(OCSP_SINGLERESP) * responses) {
  ossl::Ptr<ASN1_STRING> this_update = generalized_time(spec.this_update, "thisUpdate");
  ossl::Ptr<ASN1_STRING> next_update = generalized_time(spec.next_update, "nextUpdate");
  for (const OcspAnswer& answer : spec.answers) {
    int status = V_OCSP_CERTSTATUS_UNKNOWN;
    int reason = OCSP_REVOKED_STATUS_NOSTATUS;
    ossl::Ptr<ASN1_STRING> revoked_at;
    if (answer.status == OcspStatus::kGood) status = V_OCSP_CERTSTATUS_GOOD;
    if (answer.status == OcspStatus::kRevoked) {
      status = V_OCSP_CERTSTATUS_REVOKED;
      revoked_at = generalized_time(answer.revoked_at, "revocationTime");
      // Left out rather than say unspecified, as in a CRL entry (RFC 5280 §5.3.1).
      if (answer.reason != RevocationReason::kUnspecified) reason = static_cast<int>(answer.reason);
    }
    OCSP_SINGLERESP* single = OCSP_basic_add1_status(scratch, answer.query->certificate_id.get(), status, reason,
                                                     revoked_at.get(), this_update.get(), next_update.get());
    if (single == nullptr || sk_OCSP_SINGLERESP_push(responses, single) <= 0) {
      throw Error("building the OCSP answer for the serial " + answer.query->serial_hex + ": " + ossl::last_error());
    }
  }
}

ossl::Ptr<X509_EXTENSION> nonce_extension(const std::vector<std::uint8_t>& nonce) {
  ossl::Ptr<ASN1_STRING> value(ASN1_OCTET_STRING_new());
  if (!value || ASN1_OCTET_STRING_set(value.get(), nonce.data(), static_cast<int>(nonce.size())) != 1) {
    throw Error("building the OCSP nonce: " + ossl::last_error());
  }
  ossl::Ptr<X509_EXTENSION> extension(X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, value.get()));
  if (!extension) throw Error("building the OCSP nonce: " + ossl::last_error());
  return extension;
}

// A BIT STRING of whole bytes. Left to itself, OpenSSL would drop trailing
// zero bytes and count unused bits, changing the signature.
ossl::Ptr<ASN1_STRING> signature_bits(const std::vector<std::uint8_t>& signature) {
  ossl::Ptr<ASN1_STRING> bits(ASN1_BIT_STRING_new());
  if (!bits || ASN1_STRING_set(bits.get(), signature.data(), static_cast<int>(signature.size())) != 1) {
    throw Error("assembling the OCSP response: " + ossl::last_error());
  }
  bits->flags &= ~0x07L;  // no unused bits
  bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
  return bits;
}

// Reads the OCSPResponse back the way a client will, and checks that it
// holds the ResponseData that was signed, under a signature that verifies
// with the key of the responder its ResponderID names.
void check_signed_response(std::span<const std::uint8_t> der, const std::vector<std::uint8_t>& tbs,
                           const X509* responder) {
  const unsigned char* cursor = der.data();
  ossl::Ptr<OCSP_RESPONSE> response(d2i_OCSP_RESPONSE(nullptr, &cursor, static_cast<long>(der.size())));
  if (!response || cursor != der.data() + der.size()) {
    throw Error("the assembled OCSP response does not parse: " + ossl::last_error());
  }
  ossl::Ptr<OCSP_BASICRESP> basic(OCSP_response_get1_basic(response.get()));
  if (!basic) throw Error("the assembled OCSP response has no basic response: " + ossl::last_error());
  if (ossl::to_der(OCSP_resp_get0_respdata(basic.get()), i2d_OCSP_RESPDATA, "the ResponseData") != tbs) {
    throw Error("the signed ResponseData is not the one that was built");
  }
  // Only the responder may be the signer (NOINTERN: not a certificate the
  // response carries), and the chain is the client's to check against its
  // own clock (NOVERIFY).
  ossl::Ptr<STACK_OF(X509)> signers = lent_certificates({responder});
  if (OCSP_basic_verify(basic.get(), signers.get(), nullptr, OCSP_NOINTERN | OCSP_NOVERIFY) != 1) {
    throw Error("the token's signature does not verify under the responder's public key: " + ossl::last_error());
  }
}

}  // namespace

OcspRequest parse_ocsp_request(std::span<const std::uint8_t> der) {
  if (der.empty()) throw MalformedOcspRequest("the OCSP request is empty");
  if (der.size() > kMaxOcspRequestBytes) {
    throw MalformedOcspRequest("the OCSP request has " + std::to_string(der.size()) + " bytes; at most " +
                               std::to_string(kMaxOcspRequestBytes) + " are accepted");
  }
  const unsigned char* cursor = der.data();
  ossl::Ptr<OCSP_REQUEST> request(d2i_OCSP_REQUEST(nullptr, &cursor, static_cast<long>(der.size())));
  if (!request) throw MalformedOcspRequest("the input is not an OCSP request: " + ossl::last_error());
  if (cursor != der.data() + der.size()) {
    throw MalformedOcspRequest("there are " + std::to_string(der.data() + der.size() - cursor) +
                               " bytes after the OCSP request");
  }
  // One encoding only, so that the CertIDs answered are the bytes asked.
  if (!std::ranges::equal(ossl::to_der(request.get(), i2d_OCSP_REQUEST, "the OCSP request"), der)) {
    throw MalformedOcspRequest("the OCSP request is BER, not DER: it does not encode back to the same bytes");
  }

  int count = OCSP_request_onereq_count(request.get());
  if (count < 1) throw MalformedOcspRequest("the OCSP request asks about no certificate");
  if (count > kMaxOcspQueries) {
    throw MalformedOcspRequest("the OCSP request asks about " + std::to_string(count) + " certificates; at most " +
                               std::to_string(kMaxOcspQueries) + " are answered at once");
  }
  OcspRequest parsed;
  for (int i = 0; i < count; ++i) {
    OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(request.get(), i));
    ASN1_INTEGER* serial = nullptr;
    OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, id);
    ossl::Ptr<OCSP_CERTID> copy(OCSP_CERTID_dup(id));
    if (!copy) throw Error("copying the OCSP request's CertID: " + ossl::last_error());
    parsed.queries.push_back({std::move(copy), serial_hex(serial)});
  }

  int nonce_at = OCSP_REQUEST_get_ext_by_NID(request.get(), NID_id_pkix_OCSP_Nonce, -1);
  if (nonce_at >= 0) {
    if (OCSP_REQUEST_get_ext_by_NID(request.get(), NID_id_pkix_OCSP_Nonce, nonce_at) >= 0) {
      throw MalformedOcspRequest("the OCSP request has more than one nonce");
    }
    std::vector<std::uint8_t> nonce = bytes_of(X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(request.get(), nonce_at)));
    // RFC 8954 §2.1: an OCTET STRING of 1 to 32 octets, so a tag, one
    // length octet and the octets.
    if (nonce.size() < 3 || nonce.size() > 34 || nonce[0] != V_ASN1_OCTET_STRING || nonce[1] != nonce.size() - 2) {
      throw MalformedOcspRequest("the OCSP request's nonce is not an OCTET STRING of 1 to 32 octets (RFC 8954)");
    }
    parsed.nonce = std::move(nonce);
  }
  return parsed;
}

bool issued_by(const OcspQuery& query, const X509* ca) {
  const EVP_MD* digest = certificate_id_digest(query);
  if (digest == nullptr) return false;
  ASN1_INTEGER* serial = nullptr;
  OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, query.certificate_id.get());
  ossl::Ptr<OCSP_CERTID> ca_id(
      OCSP_cert_id_new(digest, X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), serial));
  if (!ca_id) throw Error("computing the CA's OCSP CertID: " + ossl::last_error());
  return OCSP_id_issuer_cmp(ca_id.get(), query.certificate_id.get()) == 0;
}

std::vector<std::uint8_t> make_ocsp_response(const OcspResponseSpec& spec, const Signer& signer) {
  check_spec(spec);
  if (std::vector<Finding> findings = lint_ocsp_validity(spec.this_update, spec.next_update, spec.tls);
      has_errors(findings)) {
    throw LintRefusal(std::move(findings));
  }

  // OpenSSL 3.0 takes the certificate non-const, and only reads it.
  ossl::Ptr<OCSP_RESPID> responder_id(OCSP_RESPID_new());
  if (!responder_id || OCSP_RESPID_set_by_key(responder_id.get(), const_cast<X509*>(spec.responder)) != 1) {
    throw Error("building the OCSP ResponderID: " + ossl::last_error());
  }
  ossl::Ptr<ASN1_STRING> produced_at = generalized_time(spec.produced_at, "producedAt");
  ossl::Ptr<OCSP_BASICRESP> scratch(OCSP_BASICRESP_new());
  std::unique_ptr<STACK_OF(OCSP_SINGLERESP), BorrowedSingleResponses> responses(sk_OCSP_SINGLERESP_new_null());
  if (!scratch || !responses) throw Error("building the OCSP response: " + ossl::last_error());
  add_single_responses(spec, scratch.get(), responses.get());

  ossl::Ptr<X509_EXTENSION> nonce;
  std::unique_ptr<STACK_OF(X509_EXTENSION), BorrowedExtensions> extensions;
  if (spec.nonce) {
    nonce = nonce_extension(*spec.nonce);
    extensions.reset(sk_X509_EXTENSION_new_null());
    if (!extensions || sk_X509_EXTENSION_push(extensions.get(), nonce.get()) <= 0) {
      throw Error("adding the OCSP nonce: " + ossl::last_error());
    }
  }
  ResponseData data{responder_id.get(), produced_at.get(), responses.get(), extensions.get()};
  std::vector<std::uint8_t> tbs = ossl::to_der(&data, ResponseDataType::encode, "the OCSP ResponseData");
  std::vector<std::uint8_t> signature = signer(tbs);

  ossl::Ptr<X509_ALGOR> algorithm = signature_algorithm(spec.scheme);
  ossl::Ptr<ASN1_STRING> bits = signature_bits(signature);
  ossl::Ptr<STACK_OF(X509)> certs = lent_certificates(spec.certificates);
  BasicResponse basic{&data, algorithm.get(), bits.get(), certs.get()};
  std::vector<std::uint8_t> basic_der = ossl::to_der(&basic, BasicResponseType::encode, "the BasicOCSPResponse");

  // OCSP_response_create encodes the basic response once more, from what
  // OpenSSL parsed; the check reads back the very bytes returned.
  const unsigned char* cursor = basic_der.data();
  ossl::Ptr<OCSP_BASICRESP> parsed(d2i_OCSP_BASICRESP(nullptr, &cursor, static_cast<long>(basic_der.size())));
  if (!parsed || cursor != basic_der.data() + basic_der.size()) {
    throw Error("the assembled BasicOCSPResponse does not parse: " + ossl::last_error());
  }
  ossl::Ptr<OCSP_RESPONSE> response(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, parsed.get()));
  if (!response) throw Error("wrapping the OCSP response: " + ossl::last_error());
  std::vector<std::uint8_t> der = ossl::to_der(response.get(), i2d_OCSP_RESPONSE, "the OCSP response");
  check_signed_response(der, tbs, spec.responder);
  return der;
}

std::vector<std::uint8_t> ocsp_error_response(OcspResponseStatus status) {
  ossl::Ptr<OCSP_RESPONSE> response(OCSP_response_create(static_cast<int>(status), nullptr));
  if (!response) throw Error("building the OCSP error response: " + ossl::last_error());
  return ossl::to_der(response.get(), i2d_OCSP_RESPONSE, "the OCSP error response");
}

}  // namespace custos::x509
