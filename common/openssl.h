// One owning pointer type per OpenSSL handle, so every object is freed on
// every path (BoringSSL's bssl::UniquePtr, for OpenSSL 3):
//
//   ossl::Ptr<X509> certificate(d2i_X509(nullptr, &p, size));
//   if (!certificate) throw Error("parsing the certificate: " + ossl::last_error());
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace custos::ossl {

template <typename T>
struct Deleter;

#define CUSTOS_OSSL_DELETER(type, free_function) \
  template <>                                    \
  struct Deleter<type> {                         \
    void operator()(type* p) const { free_function(p); } \
  };

CUSTOS_OSSL_DELETER(BIO, BIO_free_all)
CUSTOS_OSSL_DELETER(BIGNUM, BN_free)
CUSTOS_OSSL_DELETER(ECDSA_SIG, ECDSA_SIG_free)
CUSTOS_OSSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free)
CUSTOS_OSSL_DELETER(EVP_PKEY, EVP_PKEY_free)
CUSTOS_OSSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
CUSTOS_OSSL_DELETER(OSSL_PARAM, OSSL_PARAM_free)
CUSTOS_OSSL_DELETER(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
CUSTOS_OSSL_DELETER(ASN1_OBJECT, ASN1_OBJECT_free)
// ASN1_INTEGER, ASN1_OCTET_STRING, ASN1_TIME… are all ASN1_STRING.
CUSTOS_OSSL_DELETER(ASN1_STRING, ASN1_STRING_free)
CUSTOS_OSSL_DELETER(ASN1_TYPE, ASN1_TYPE_free)
CUSTOS_OSSL_DELETER(X509, X509_free)
CUSTOS_OSSL_DELETER(X509_ALGOR, X509_ALGOR_free)
CUSTOS_OSSL_DELETER(X509_EXTENSION, X509_EXTENSION_free)
CUSTOS_OSSL_DELETER(X509_NAME, X509_NAME_free)
CUSTOS_OSSL_DELETER(X509_REQ, X509_REQ_free)
CUSTOS_OSSL_DELETER(X509_SIG, X509_SIG_free)
CUSTOS_OSSL_DELETER(X509_STORE, X509_STORE_free)
CUSTOS_OSSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free)
CUSTOS_OSSL_DELETER(RSA_PSS_PARAMS, RSA_PSS_PARAMS_free)
CUSTOS_OSSL_DELETER(X509_PUBKEY, X509_PUBKEY_free)
CUSTOS_OSSL_DELETER(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free)
CUSTOS_OSSL_DELETER(AUTHORITY_KEYID, AUTHORITY_KEYID_free)
CUSTOS_OSSL_DELETER(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free)
CUSTOS_OSSL_DELETER(GENERAL_NAMES, GENERAL_NAMES_free)
CUSTOS_OSSL_DELETER(CERTIFICATEPOLICIES, CERTIFICATEPOLICIES_free)
CUSTOS_OSSL_DELETER(AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free)
CUSTOS_OSSL_DELETER(NAME_CONSTRAINTS, NAME_CONSTRAINTS_free)
CUSTOS_OSSL_DELETER(OCSP_BASICRESP, OCSP_BASICRESP_free)
CUSTOS_OSSL_DELETER(OCSP_CERTID, OCSP_CERTID_free)
CUSTOS_OSSL_DELETER(OCSP_REQUEST, OCSP_REQUEST_free)
CUSTOS_OSSL_DELETER(OCSP_RESPID, OCSP_RESPID_free)
CUSTOS_OSSL_DELETER(OCSP_RESPONSE, OCSP_RESPONSE_free)
CUSTOS_OSSL_DELETER(STACK_OF(X509), sk_X509_free)
#undef CUSTOS_OSSL_DELETER

template <typename T>
using Ptr = std::unique_ptr<T, Deleter<T>>;

// Making, parsing, encoding and owning an ASN.1 type declared with
// OpenSSL's template macros (ASN1_SEQUENCE(T) … static_ASN1_SEQUENCE_END(T)),
// through the item function the macros define (T_it):
//
//   using RequestType = ossl::Asn1Type<Request, Request_it>;
//   RequestType::Owned request = RequestType::parse(cursor, size);
template <typename T, const ASN1_ITEM* (*kItem)()>
struct Asn1Type {
  struct Free {
    void operator()(T* value) const { ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(value), kItem()); }
  };
  using Owned = std::unique_ptr<T, Free>;

  // Every field made, an empty stack for each SET OF or SEQUENCE OF.
  static Owned create() { return Owned(reinterpret_cast<T*>(ASN1_item_new(kItem()))); }
  static Owned parse(const unsigned char*& cursor, std::size_t size) {
    return Owned(reinterpret_cast<T*>(ASN1_item_d2i(nullptr, &cursor, static_cast<long>(size), kItem())));
  }
  static int encode(T* value, unsigned char** out) {
    return ASN1_item_i2d(reinterpret_cast<ASN1_VALUE*>(value), out, kItem());
  }
};

// The OpenSSL error queue as one line ("error:…: …"), emptied; "no detail"
// when the queue is empty.
std::string last_error();

// DER of an object through its i2d function; throws custos::Error naming
// `what` when encoding fails.
// `i2d` is any OpenSSL encoder of the object (i2d_X509, i2d_re_X509_tbs, …).
template <typename T, typename Encoder>
std::vector<std::uint8_t> to_der(T* object, Encoder i2d, const char* what);

std::vector<std::uint8_t> sha_digest(const char* digest_name, std::span<const std::uint8_t> data);

}  // namespace custos::ossl

#include "common/openssl_inl.h"
