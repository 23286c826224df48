#include "tests/support/engine_fixture.h"

#include <chrono>
#include <thread>

#include "tests/support/requests.h"
#include "tests/support/test_token.h"

namespace custos::testing {

void EngineFixture::SetUp() {
  TestToken& hsm = TestToken::instance();
  hsm.create_token("engine", "1234");
  directory_ = hsm.make_directory("ca");
  pin_file_ = hsm.directory() / "pin";
  write_file(pin_file_, "1234\n", 0600);
  token_.module = TestToken::module_path();
  token_.label = "engine";
  token_.pin.file = pin_file_;
  key_ = ec_key("P-256");
}

void EngineFixture::init(int days) {
  engine::InitOptions options;
  options.directory = directory_;
  options.subject = "CN=Engine Test Root";
  options.key_type = "ec-p256";
  options.validity_days = days;
  options.token = token_;
  options.actor = "test";
  engine::init_ca(options);
}

void EngineFixture::set_policy_module(const std::string& module, int timeout_ms, const std::string& extra) {
  std::filesystem::path config = directory_ / "custos.toml";
  std::string text = read_file(config);
  std::size_t start = text.find("[policy]\n");
  std::size_t end = text.find("\n[", start + 1);
  ASSERT_NE(start, std::string::npos);
  text.replace(start, end - start,
               "[policy]\nmodule = \"" + module + "\"\ntimeout_ms = " + std::to_string(timeout_ms) + "\n" + extra);
  write_file(config, text, 0600);
}

void EngineFixture::open() {
  engine_.reset();
  ca_.reset();
  ca_ = engine::CertificateAuthority::open(directory_, token_);
  engine_ = std::make_unique<engine::Engine>(*ca_);
}

engine::Disposition EngineFixture::submit(const std::string& subject, const char* san, const std::string& profile) {
  std::string same_as_subject = "DNS:" + subject;
  bool of_subject = san != nullptr && std::string_view(san) == kSanOfSubject;
  std::string request = csr_pem(key_.get(), subject, of_subject ? same_as_subject.c_str() : san);
  return engine_->submit(std::span(reinterpret_cast<const std::uint8_t*>(request.data()), request.size()),
                         {{"profile", profile}}, "test");
}

ossl::Ptr<X509> EngineFixture::certificate_of(const engine::Disposition& disposition) {
  const unsigned char* cursor = disposition.certificate.data();
  return ossl::Ptr<X509>(d2i_X509(nullptr, &cursor, static_cast<long>(disposition.certificate.size())));
}

std::string EngineFixture::module_log() const { return read_file(directory_ / "modules.log"); }

bool EngineFixture::module_log_holds(const std::string& text) const {
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (module_log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace custos::testing
