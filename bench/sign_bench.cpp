// Token signatures per second, by key type and by number of threads sharing
// one Token (its session pool), on a private SoftHSMv2 token, or with
// CUSTOS_TEST_TOKEN=tpm a software TPM (tests/support/test_token.h):
//
//   build/release/bin/sign_bench [--benchmark_filter=EcP256]
//
// The figures bound issuance throughput: every certificate and CRL costs one
// token signature.
#include <benchmark/benchmark.h>

#include <map>

#include "common/error.h"
#include "hsm/token.h"
#include "tests/support/test_token.h"

namespace {

using custos::hsm::KeyRef;
using custos::hsm::KeyType;
using custos::hsm::SignatureScheme;
using custos::hsm::Token;

Token& shared_token() {
  static std::unique_ptr<Token> token = [] {
    custos::testing::TestToken::instance().create_token("bench", "1234");
    return std::make_unique<Token>(
        custos::hsm::Module::load(custos::testing::TestToken::module_path()), "bench",
        custos::SecureBuffer::copy_of(std::span(reinterpret_cast<const std::uint8_t*>("1234"), 4)), 4);
  }();
  return *token;
}

// The key of `type`, or null with the token's reason in `why` when it
// cannot make one (a TPM makes no Ed25519 key).
const KeyRef* key_for(KeyType type, std::string& why) {
  static std::map<KeyType, KeyRef> keys;
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto found = keys.find(type);
  if (found == keys.end()) {
    try {
      found = keys.emplace(type, shared_token().generate_key_pair(type, custos::hsm::KeyPurpose::kSigning,
                                                                  std::string(custos::hsm::key_type_name(type))))
                  .first;
    } catch (const custos::Error& error) {
      why = error.what();
      return nullptr;
    }
  }
  return &found->second;
}

template <KeyType type, SignatureScheme scheme>
void BM_Sign(benchmark::State& state) {
  std::string why;
  const KeyRef* key = key_for(type, why);
  if (key == nullptr) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::vector<std::uint8_t> tbs(600, 0x5a);  // about the size of a leaf TBSCertificate
  for (auto _ : state) {
    benchmark::DoNotOptimize(shared_token().sign(*key, scheme, tbs));
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Sign<KeyType::kEcP256, SignatureScheme::kEcdsaSha256>)->Name("EcP256")->ThreadRange(1, 4)->UseRealTime();
BENCHMARK(BM_Sign<KeyType::kEcP384, SignatureScheme::kEcdsaSha384>)->Name("EcP384")->ThreadRange(1, 4)->UseRealTime();
BENCHMARK(BM_Sign<KeyType::kRsa2048, SignatureScheme::kRsaPkcs1Sha256>)->Name("Rsa2048")->ThreadRange(1, 4)->UseRealTime();
BENCHMARK(BM_Sign<KeyType::kRsa3072, SignatureScheme::kRsaPkcs1Sha256>)->Name("Rsa3072")->ThreadRange(1, 4)->UseRealTime();
BENCHMARK(BM_Sign<KeyType::kEd25519, SignatureScheme::kEd25519>)->Name("Ed25519")->ThreadRange(1, 4)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
