// Certificates issued per second by the engine in one process: receive,
// the policy module's verdict over its socket, formation, a token
// signature, and the durable commit (SQLCipher, synchronous=FULL) — on a
// private SoftHSMv2 token with an ECDSA P-256 CA; one request at a time,
// and four in flight on four engines, each with its store connection and
// policy module host (as custosd runs them on two cores). And bulk revocation
// (`admin revoke --serials-from`): certificates revoked per second, a
// batch of 20,000 (one transaction) at a time.
//
//   build/release/bin/issue_bench
//   build/release/bin/issue_bench --benchmark_filter=Revoke
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

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
    others.push_back(engine.get());
    for (int more = 1; more < kMostInFlight; ++more) {
      owned.push_back(std::make_unique<engine::Engine>(*ca, engine::Publisher{}, ca->open_another_connection()));
      others.push_back(owned.back().get());
    }
  }
  static constexpr int kMostInFlight = 4;
  std::unique_ptr<engine::CertificateAuthority> ca;
  std::unique_ptr<engine::Engine> engine;
  std::vector<std::unique_ptr<engine::Engine>> owned;
  std::vector<engine::Engine*> others;  // engine first: one for each request in flight
};

IssuingCa& issuing_ca() {
  static IssuingCa issuing;
  return issuing;
}

std::span<const std::uint8_t> as_bytes(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

void BM_IssueServerCertificate(benchmark::State& state) {
  IssuingCa& issuing = issuing_ca();
  ossl::Ptr<EVP_PKEY> key = testing::ec_key("P-256");
  std::string request = testing::csr_pem(key.get(), "www.example.com", "DNS:www.example.com");
  std::span<const std::uint8_t> bytes = as_bytes(request);
  engine::Engine& engine = *issuing.others.at(static_cast<std::size_t>(state.thread_index()));
  for (auto _ : state) {
    engine::Disposition disposition = engine.submit(bytes, {{"profile", "server"}}, "bench");
    if (disposition.state != storage::RequestState::kIssued) state.SkipWithError(disposition.message.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_IssueServerCertificate)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Threads(1)
    ->Threads(IssuingCa::kMostInFlight);

// Each round issues a batch (not timed), then revokes it in one call.
void BM_RevokeInBatches(benchmark::State& state) {
  IssuingCa& issuing = issuing_ca();
  ossl::Ptr<EVP_PKEY> key = testing::ec_key("P-256");
  std::string request = testing::csr_pem(key.get(), "www.example.com", "DNS:www.example.com");
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<std::string> serials;
    for (std::int64_t i = 0; i < state.range(0); ++i) {
      engine::Disposition disposition = issuing.engine->submit(as_bytes(request), {{"profile", "server"}}, "bench");
      if (!disposition.serial) state.SkipWithError(disposition.message.c_str());
      serials.push_back(disposition.serial.value_or(""));
    }
    state.ResumeTiming();
    engine::RevocationTally tally = issuing.engine->revoke_batch(serials, "keyCompromise", std::nullopt, "bench");
    if (tally.revoked != serials.size()) state.SkipWithError("not every serial was revoked");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_RevokeInBatches)->Arg(20000)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
