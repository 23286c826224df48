// libFuzzer target: a PKCS#10 request as a client sends it, PEM or DER,
// through the engine's receive checks (appliance/x509/csr.h).
#include <cstddef>
#include <cstdint>
#include <span>

#include "appliance/x509/csr.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> input(data, size);
  try {
    custos::x509::CheckedRequest checked = custos::x509::check_request(input);
    (void)checked;
  } catch (const custos::Error&) {
    // A refusal with its one-line reason is the expected answer to most inputs.
  }
  return 0;
}
