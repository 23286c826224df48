#include "appliance/x509/algorithm.h"

#include <openssl/rsa.h>

#include "common/error.h"

namespace custos::x509 {
namespace {

int nid_of(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256:
      return NID_ecdsa_with_SHA256;
    case SignatureScheme::kEcdsaSha384:
      return NID_ecdsa_with_SHA384;
    case SignatureScheme::kEcdsaSha512:
      return NID_ecdsa_with_SHA512;
    case SignatureScheme::kRsaPkcs1Sha256:
      return NID_sha256WithRSAEncryption;
    case SignatureScheme::kRsaPkcs1Sha384:
      return NID_sha384WithRSAEncryption;
    case SignatureScheme::kRsaPkcs1Sha512:
      return NID_sha512WithRSAEncryption;
    case SignatureScheme::kRsaPssSha256:
    case SignatureScheme::kRsaPssSha384:
    case SignatureScheme::kRsaPssSha512:
      return NID_rsassaPss;
    case SignatureScheme::kEd25519:
      return NID_ED25519;
  }
  return NID_undef;
}

// RSASSA-PSS-params (RFC 4055) for a digest: that digest, MGF1 over it, and
// a salt as long as the digest, the parameters the token signs with.
ossl::Ptr<ASN1_STRING> pss_parameters(const EVP_MD* md) {
  ossl::Ptr<RSA_PSS_PARAMS> params(RSA_PSS_PARAMS_new());
  ossl::Ptr<X509_ALGOR> mgf_digest(X509_ALGOR_new());
  if (!params || !mgf_digest) throw Error("building RSA-PSS parameters: " + ossl::last_error());
  params->hashAlgorithm = X509_ALGOR_new();
  params->maskGenAlgorithm = X509_ALGOR_new();
  params->saltLength = ASN1_INTEGER_new();
  if (params->hashAlgorithm == nullptr || params->maskGenAlgorithm == nullptr || params->saltLength == nullptr ||
      ASN1_INTEGER_set(params->saltLength, EVP_MD_get_size(md)) != 1) {
    throw Error("building RSA-PSS parameters: " + ossl::last_error());
  }
  X509_ALGOR_set_md(params->hashAlgorithm, md);
  X509_ALGOR_set_md(mgf_digest.get(), md);
  ASN1_STRING* encoded_digest = nullptr;
  if (ASN1_item_pack(mgf_digest.get(), ASN1_ITEM_rptr(X509_ALGOR), &encoded_digest) == nullptr ||
      X509_ALGOR_set0(params->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, encoded_digest) != 1) {
    throw Error("building RSA-PSS parameters: " + ossl::last_error());
  }
  ASN1_STRING* packed = nullptr;
  if (ASN1_item_pack(params.get(), ASN1_ITEM_rptr(RSA_PSS_PARAMS), &packed) == nullptr) {
    throw Error("encoding RSA-PSS parameters: " + ossl::last_error());
  }
  return ossl::Ptr<ASN1_STRING>(packed);
}

}  // namespace

ossl::Ptr<X509_ALGOR> signature_algorithm(SignatureScheme scheme) {
  ossl::Ptr<X509_ALGOR> algorithm(X509_ALGOR_new());
  int nid = nid_of(scheme);
  int parameter_type = V_ASN1_UNDEF;
  void* parameter = nullptr;
  if (nid == NID_sha256WithRSAEncryption || nid == NID_sha384WithRSAEncryption || nid == NID_sha512WithRSAEncryption) {
    parameter_type = V_ASN1_NULL;
  } else if (nid == NID_rsassaPss) {
    const EVP_MD* md = EVP_get_digestbyname(std::string(signature_digest_name(scheme)).c_str());
    parameter = pss_parameters(md).release();
    parameter_type = V_ASN1_SEQUENCE;
  }
  if (!algorithm || X509_ALGOR_set0(algorithm.get(), OBJ_nid2obj(nid), parameter_type, parameter) != 1) {
    throw Error("building the signature algorithm: " + ossl::last_error());
  }
  return algorithm;
}

bool signature_verifies(SignatureScheme scheme, EVP_PKEY* key, std::span<const std::uint8_t> data,
                        std::span<const std::uint8_t> signature) {
  const std::string digest(signature_digest_name(scheme));
  ossl::Ptr<EVP_MD_CTX> context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;  // owned by `context`
  if (!context || EVP_DigestVerifyInit_ex(context.get(), &key_context, digest.empty() ? nullptr : digest.c_str(), nullptr,
                                          nullptr, key, nullptr) != 1) {
    return false;
  }
  if (nid_of(scheme) == NID_rsassaPss &&
      (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md_name(key_context, digest.c_str(), nullptr) != 1)) {
    return false;
  }
  return EVP_DigestVerify(context.get(), signature.data(), signature.size(), data.data(), data.size()) == 1;
}

}  // namespace custos::x509
