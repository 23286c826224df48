#include "appliance/x509/request.h"

#include "appliance/x509/algorithm.h"
#include "common/error.h"

namespace custos::x509 {

ossl::Ptr<X509_REQ> make_request(const X509_NAME* subject, std::span<const std::uint8_t> public_key,
                                 SignatureScheme scheme, const Signer& signer) {
  ossl::Ptr<X509_REQ> request(X509_REQ_new());
  ossl::Ptr<EVP_PKEY> key = parse_public_key(public_key);
  ossl::Ptr<X509_ALGOR> algorithm = signature_algorithm(scheme);
  if (!request || X509_REQ_set_version(request.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(request.get(), subject) != 1 || X509_REQ_set_pubkey(request.get(), key.get()) != 1 ||
      X509_REQ_set1_signature_algo(request.get(), algorithm.get()) != 1) {
    throw Error("building the certificate request: " + ossl::last_error());
  }
  std::vector<std::uint8_t> info =
      ossl::to_der(request.get(), i2d_re_X509_REQ_tbs, "the CertificationRequestInfo");
  std::vector<std::uint8_t> signature = signer(info);

  ASN1_BIT_STRING* bits = ASN1_BIT_STRING_new();
  if (bits == nullptr || ASN1_BIT_STRING_set(bits, signature.data(), static_cast<int>(signature.size())) != 1) {
    ASN1_BIT_STRING_free(bits);
    throw Error("assembling the certificate request: " + ossl::last_error());
  }
  bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
  bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
  X509_REQ_set0_signature(request.get(), bits);
  if (X509_REQ_verify(request.get(), key.get()) != 1) {
    throw Error("the token's signature on the certificate request does not verify: " + ossl::last_error());
  }
  return request;
}

}  // namespace custos::x509
