// PEM in and out for certificates and requests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/openssl.h"

namespace custos::x509 {

std::string to_pem(const X509* certificate);
std::string to_pem(const X509_REQ* request);

// Every certificate in PEM text, in order; throws custos::Error when there
// is none or one does not parse.
std::vector<ossl::Ptr<X509>> read_pem_certificates(std::string_view text);

}  // namespace custos::x509
