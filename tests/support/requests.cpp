#include "tests/support/requests.h"

#include <openssl/pem.h>

#include "common/error.h"

namespace custos::testing {
namespace {

// Holds borrowed extensions only long enough to add them to a request.
struct BorrowedStackFree {
  void operator()(STACK_OF(X509_EXTENSION) * extensions) const { sk_X509_EXTENSION_free(extensions); }
};
}  // namespace

ossl::Ptr<EVP_PKEY> ec_key(const char* curve) {
  ossl::Ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  if (!key) throw Error(std::string("generating an EC key on ") + curve + ": " + ossl::last_error());
  return key;
}

ossl::Ptr<EVP_PKEY> edwards_key(const char* algorithm) {
  ossl::Ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm));
  if (!key) throw Error(std::string("generating an ") + algorithm + " key: " + ossl::last_error());
  return key;
}

ossl::Ptr<EVP_PKEY> rsa_key(unsigned bits, unsigned public_exponent) {
  ossl::Ptr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  ossl::Ptr<BIGNUM> exponent(BN_new());
  EVP_PKEY* key = nullptr;
  if (!context || !exponent || BN_set_word(exponent.get(), public_exponent) != 1 ||
      EVP_PKEY_keygen_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), static_cast<int>(bits)) != 1 ||
      EVP_PKEY_CTX_set1_rsa_keygen_pubexp(context.get(), exponent.get()) != 1 ||
      EVP_PKEY_generate(context.get(), &key) != 1) {
    throw Error("generating an RSA key: " + ossl::last_error());
  }
  return ossl::Ptr<EVP_PKEY>(key);
}

// A subjectAltName in OpenSSL's configuration syntax ("DNS:a.example, IP:192.0.2.1").
ossl::Ptr<X509_EXTENSION> san_extension(const char* names) {
  ossl::Ptr<X509_EXTENSION> extension(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, names));
  if (!extension) throw Error(std::string("building the subjectAltName ") + names + ": " + ossl::last_error());
  return extension;
}

// A request as a client makes one: `subject`, the `extensions` in an
// extensionRequest attribute, signed by `signer` (the request's own key
// unless given) with SHA-256, or with plain Ed25519/Ed448.
std::vector<std::uint8_t> make_request(EVP_PKEY* key, const X509_NAME* subject,
                                       const std::vector<X509_EXTENSION*>& extensions, EVP_PKEY* signer) {
  if (signer == nullptr) signer = key;
  ossl::Ptr<X509_REQ> request(X509_REQ_new());
  if (!request || X509_REQ_set_version(request.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(request.get(), subject) != 1 || X509_REQ_set_pubkey(request.get(), key) != 1) {
    throw Error("building a test request: " + ossl::last_error());
  }
  if (!extensions.empty()) {
    std::unique_ptr<STACK_OF(X509_EXTENSION), BorrowedStackFree> stack(sk_X509_EXTENSION_new_null());
    for (X509_EXTENSION* extension : extensions) sk_X509_EXTENSION_push(stack.get(), extension);
    if (X509_REQ_add_extensions(request.get(), stack.get()) != 1) {
      throw Error("adding extensions to a test request: " + ossl::last_error());
    }
  }
  bool edwards = EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519 || EVP_PKEY_get_id(signer) == EVP_PKEY_ED448;
  if (X509_REQ_sign(request.get(), signer, edwards ? nullptr : EVP_sha256()) <= 0) {
    throw Error("signing a test request: " + ossl::last_error());
  }
  return ossl::to_der(request.get(), i2d_X509_REQ, "a test request");
}

std::string pem(const char* label, const std::vector<std::uint8_t>& der) {
  ossl::Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio(bio.get(), label, "", der.data(), static_cast<long>(der.size())) <= 0) {
    throw Error("writing a test request as PEM: " + ossl::last_error());
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::string csr_pem(EVP_PKEY* key, const std::string& subject, const char* san) {
  ossl::Ptr<X509_NAME> name(X509_NAME_new());
  if (!subject.empty()) {
    if (X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(subject.c_str()),
                                   -1, -1, 0) != 1) {
      throw Error("building a test subject: " + ossl::last_error());
    }
  }
  std::vector<X509_EXTENSION*> extensions;
  ossl::Ptr<X509_EXTENSION> names;
  if (san != nullptr) {
    names = san_extension(san);
    extensions.push_back(names.get());
  }
  return pem("CERTIFICATE REQUEST", make_request(key, name.get(), extensions));
}

}  // namespace custos::testing
