// A CA made in process on a private SoftHSM token, opened with its engine,
// for tests of the request flow and of the module sandbox.
#pragma once

#include <gtest/gtest.h>

#include "appliance/engine/engine.h"
#include "common/openssl.h"

namespace custos::testing {

class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override;

  // `custos init` for an ECDSA P-256 root valid for `days`.
  void init(int days = 3650);
  // Replaces the [policy] table of custos.toml: the module, its timeout and
  // `extra` lines (its own configuration).
  void set_policy_module(const std::string& module, int timeout_ms = 1000, const std::string& extra = "");
  // Opens the CA and its engine (again, if open).
  void open();

  // Submits a fresh request for CN=`subject` with `san` under `profile`:
  // by default a dNSName equal to the CN, as a TLS server certificate
  // needs (BR 7.1.2.7.2); nullptr for none.
  static constexpr const char* kSanOfSubject = "DNS:<subject>";
  engine::Disposition submit(const std::string& subject, const char* san = kSanOfSubject,
                             const std::string& profile = "server");
  ossl::Ptr<X509> certificate_of(const engine::Disposition& disposition);
  std::string module_log() const;
  // Whether modules.log holds `text` within 10 s: a module's stderr reaches
  // the file through the engine's reader thread, a moment after the call
  // that made the module write it.
  bool module_log_holds(const std::string& text) const;

  std::filesystem::path directory_;
  std::filesystem::path pin_file_;
  engine::TokenOptions token_;
  ossl::Ptr<EVP_PKEY> key_;
  std::unique_ptr<engine::CertificateAuthority> ca_;
  std::unique_ptr<engine::Engine> engine_;
};

}  // namespace custos::testing
