// The engine's check of a received request (x509::check_request: strict
// DER, the key imported from its bytes, proof of possession, extensions)
// beside OpenSSL's own parse and signature check of the same bytes
// (d2i_X509_REQ, X509_REQ_verify), which is the least any CA does with a
// request. Both in one run, interleaved, medians of 3, and the ratio:
//
//   build/release-tests/bin/check_request_bench [CALLS]
//
// Requests for CN=bench with one DNS name, made with software keys.
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "appliance/x509/csr.h"
#include "appliance/x509/name.h"
#include "common/error.h"
#include "common/openssl.h"
#include "tests/support/requests.h"

namespace {

using Clock = std::chrono::steady_clock;

// Microseconds per call of `check` over `calls` calls.
double microseconds_per_call(const std::function<void()>& check, int calls) {
  Clock::time_point start = Clock::now();
  for (int i = 0; i < calls; ++i) check();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / calls;
}

void openssl_parse_and_verify(const std::vector<std::uint8_t>& der) {
  const unsigned char* cursor = der.data();
  custos::ossl::Ptr<X509_REQ> request(d2i_X509_REQ(nullptr, &cursor, static_cast<long>(der.size())));
  if (!request || X509_REQ_verify(request.get(), X509_REQ_get0_pubkey(request.get())) != 1) {
    throw custos::Error("OpenSSL refused the benchmark's request: " + custos::ossl::last_error());
  }
}

}  // namespace

int main(int argc, char** argv) {
  int calls = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (calls <= 0) {
    std::fprintf(stderr, "usage: check_request_bench [CALLS]\n");
    return 2;
  }
  struct Kind {
    const char* name;
    custos::ossl::Ptr<EVP_PKEY> key;
  };
  std::vector<Kind> kinds;
  kinds.push_back({"EC P-256", custos::testing::ec_key("P-256")});
  kinds.push_back({"EC P-384", custos::testing::ec_key("P-384")});
  kinds.push_back({"RSA 2048", custos::testing::rsa_key(2048, 65537)});
  kinds.push_back({"Ed25519", custos::testing::edwards_key("ED25519")});
  custos::ossl::Ptr<X509_EXTENSION> san = custos::testing::san_extension("DNS:bench.example");
  std::printf("%-10s %22s %26s %7s\n", "request", "check_request µs", "d2i_X509_REQ+verify µs", "ratio");
  for (const Kind& kind : kinds) {
    std::vector<std::uint8_t> der =
        custos::testing::make_request(kind.key.get(), custos::x509::parse_name("CN=bench").get(), {san.get()});
    auto custos_check = [&] { custos::x509::check_request(der); };
    auto openssl_check = [&] { openssl_parse_and_verify(der); };
    microseconds_per_call(custos_check, calls / 10 + 1);  // warm-up
    microseconds_per_call(openssl_check, calls / 10 + 1);
    std::vector<double> custos_times;
    std::vector<double> openssl_times;
    for (int round = 0; round < 3; ++round) {
      custos_times.push_back(microseconds_per_call(custos_check, calls));
      openssl_times.push_back(microseconds_per_call(openssl_check, calls));
    }
    std::ranges::sort(custos_times);
    std::ranges::sort(openssl_times);
    // Time per call, so the ratio is OpenSSL's time over Custos's: above 1,
    // Custos's whole check is faster than OpenSSL's parse and verify alone.
    std::printf("%-10s %10.1f [%.1f–%.1f] %14.1f [%.1f–%.1f] %7.2f\n", kind.name, custos_times[1], custos_times[0],
                custos_times[2], openssl_times[1], openssl_times[0], openssl_times[2],
                openssl_times[1] / custos_times[1]);
  }
  return 0;
}
