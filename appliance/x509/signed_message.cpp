#include "appliance/x509/signed_message.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include "appliance/x509/algorithm.h"
#include "common/error.h"

namespace custos::x509 {
namespace {

ossl::Ptr<ASN1_OCTET_STRING> octet_string(std::span<const std::uint8_t> message) {
  ossl::Ptr<ASN1_OCTET_STRING> wrapped(ASN1_OCTET_STRING_new());
  if (!wrapped || ASN1_OCTET_STRING_set(wrapped.get(), message.data(), static_cast<int>(message.size())) != 1) {
    throw Error("wrapping a message to sign: " + ossl::last_error());
  }
  return wrapped;
}

}  // namespace

std::vector<std::uint8_t> message_to_be_signed(std::span<const std::uint8_t> message) {
  ossl::Ptr<ASN1_OCTET_STRING> wrapped = octet_string(message);
  unsigned char* der = nullptr;
  int length = i2d_ASN1_OCTET_STRING(wrapped.get(), &der);
  if (length <= 0) throw Error("encoding a message to sign: " + ossl::last_error());
  std::vector<std::uint8_t> bytes(der, der + length);
  OPENSSL_free(der);
  return bytes;
}

bool message_signature_holds(EVP_PKEY* key, SignatureScheme scheme, std::span<const std::uint8_t> message,
                             std::span<const std::uint8_t> signature) {
  ossl::Ptr<ASN1_OCTET_STRING> wrapped = octet_string(message);
  ossl::Ptr<X509_ALGOR> algorithm = signature_algorithm(scheme);
  ossl::Ptr<ASN1_BIT_STRING> bits(ASN1_BIT_STRING_new());
  if (!bits || ASN1_BIT_STRING_set(bits.get(), const_cast<std::uint8_t*>(signature.data()),
                                   static_cast<int>(signature.size())) != 1) {
    throw Error("reading a signature: " + ossl::last_error());
  }
  int verified = ASN1_item_verify(ASN1_ITEM_rptr(ASN1_OCTET_STRING), algorithm.get(), bits.get(), wrapped.get(), key);
  ERR_clear_error();
  return verified == 1;
}

}  // namespace custos::x509
