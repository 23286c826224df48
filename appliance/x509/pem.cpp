#include "appliance/x509/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/error.h"

namespace custos::x509 {
namespace {

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

std::string to_pem(const X509* certificate) {
  ossl::Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) {
    throw Error("writing the certificate as PEM: " + ossl::last_error());
  }
  return bio_text(bio.get());
}

std::string to_pem(const X509_REQ* request) {
  ossl::Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), request) != 1) {
    throw Error("writing the request as PEM: " + ossl::last_error());
  }
  return bio_text(bio.get());
}

std::vector<ossl::Ptr<X509>> read_pem_certificates(std::string_view text) {
  ossl::Ptr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  std::vector<ossl::Ptr<X509>> certificates;
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(certificate);
  }
  unsigned long error = ERR_peek_last_error();
  if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE && !certificates.empty()) {
    ERR_clear_error();  // the normal end of the input
  } else if (error != 0) {
    throw Error("reading PEM certificates: " + ossl::last_error());
  }
  if (certificates.empty()) throw Error("no PEM certificate found");
  return certificates;
}

}  // namespace custos::x509
