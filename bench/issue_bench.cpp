// Certificates issued per second by the engine in one process: receive,
// the policy module's verdict over its socket, formation, a token
// signature, and the durable commit (SQLCipher, synchronous=FULL) — on a
// private SoftHSMv2 token with an ECDSA P-256 CA:
//
//   build/release/bin/issue_bench
#include <benchmark/benchmark.h>

#include "appliance/engine/engine.h"
#include "tests/support/requests.h"
#include "tests/support/test_token.h"

namespace {

using namespace custos;

struct IssuingCa {
  IssuingCa() {
    testing::TestToken& hsm = testing::TestToken::instance();
    hsm.create_token("bench", "1234");
    std::filesystem::path pin = hsm.directory() / "pin";
    testing::write_file(pin, "1234\n", 0600);
    engine::TokenOptions token;
    token.module = testing::TestToken::module_path();
    token.label = "bench";
    token.pin.file = pin;
    engine::InitOptions options;
    options.directory = hsm.directory() / "ca";
    options.subject = "CN=Bench Root";
    options.key_type = "ec-p256";
    options.token = token;
    options.actor = "bench";
    engine::init_ca(options);
    ca = engine::CertificateAuthority::open(options.directory, token);
    engine = std::make_unique<engine::Engine>(*ca);
  }
  std::unique_ptr<engine::CertificateAuthority> ca;
  std::unique_ptr<engine::Engine> engine;
};

void BM_IssueServerCertificate(benchmark::State& state) {
  static IssuingCa issuing;
  ossl::Ptr<EVP_PKEY> key = testing::ec_key("P-256");
  std::string request = testing::csr_pem(key.get(), "www.example.com", "DNS:www.example.com");
  std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(request.data()), request.size());
  for (auto _ : state) {
    engine::Disposition disposition = issuing.engine->submit(bytes, {{"profile", "server"}}, "bench");
    if (disposition.state != storage::RequestState::kIssued) state.SkipWithError(disposition.message.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_IssueServerCertificate)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
