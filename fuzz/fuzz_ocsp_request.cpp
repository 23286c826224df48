// libFuzzer target: a DER OCSP request as a relying party POSTs it
// (appliance/x509/ocsp.h).
#include <cstddef>
#include <cstdint>
#include <span>

#include "appliance/x509/ocsp.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    custos::x509::OcspRequest request = custos::x509::parse_ocsp_request(std::span<const std::uint8_t>(data, size));
    (void)request;
  } catch (const custos::Error&) {
  }
  return 0;
}
