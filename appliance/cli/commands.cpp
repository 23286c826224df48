#include "appliance/cli/commands.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <iostream>

#include "appliance/engine/token_check.h"
#include "appliance/x509/certificate.h"
#include "appliance/x509/crl.h"
#include "appliance/x509/lint.h"
#include "appliance/x509/name.h"
#include "common/files.h"
#include "hsm/module.h"
#include "hsm/quirks.h"

namespace custos::cli {
namespace {

constexpr std::size_t kMaxCertificateFileBytes = 1 << 20;

void print_json(const nlohmann::json& value) { std::cout << value.dump(2) << "\n"; }

std::string describe_profiles(const engine::CaConfig& config) {
  std::string text;
  for (const engine::ProfileSection& profile : config.profiles) {
    if (!text.empty()) text += "; ";
    text += profile.name + ": " + profile.decision + ", " + std::to_string(profile.validity_days) + " days";
  }
  return text.empty() ? "(none)" : text;
}

}  // namespace

void run_init(const InitCommand& command) {
  engine::InitResult result = engine::init_ca(command.options);
  const engine::CaConfig& config = result.config;
  if (config.publication.crl_urls.empty() && config.publication.ocsp_urls.empty()) {
    // On stderr, whatever the output format: a CA operator must see it.
    std::cerr << "custos: note: no CRL or OCSP URL: the certificates this CA issues will say nowhere how to check "
                 "their revocation (CA/Browser Forum BR 7.1.2.7.7-8); give init --crl-url / --ocsp-url, or set [crl] "
                 "distribution_points and [aia] ocsp in custos.toml\n";
  }
  std::string key_method(engine::database_key_method_name(config.database.key_method));
  if (command.json) {
    nlohmann::json out = {{"kind", config.ca.subordinate ? "subordinate" : "root"},
                          {"subject", config.ca.subject},
                          {"directory", std::filesystem::absolute(command.options.directory).string()},
                          {"key_type", hsm::key_type_name(config.ca.key_type)},
                          {"signature", hsm::signature_scheme_name(config.ca.signature)},
                          {"key_label", config.ca.key.label},
                          {"token", config.token.label},
                          {"database_key_method", key_method},
                          {config.ca.subordinate ? "csr" : "certificate", result.output.string()},
                          {"sha256", result.fingerprint}};
    if (!result.serial.empty()) out["serial"] = result.serial;
    print_json(out);
    return;
  }
  std::cout << "created " << (config.ca.subordinate ? "subordinate" : "root") << " CA \"" << config.ca.subject
            << "\" in " << command.options.directory.string() << "\n"
            << "  key          " << hsm::key_type_name(config.ca.key_type) << " '" << config.ca.key.label
            << "' on token '" << config.token.label << "', signing with "
            << hsm::signature_scheme_name(config.ca.signature) << "\n"
            << "  database     " << (command.options.directory / config.database.file).string()
            << " (SQLCipher, keyed by " << key_method << " on the token)\n";
  if (config.ca.subordinate) {
    std::cout << "  request      " << result.output.string() << " (SHA-256 " << result.fingerprint << ")\n"
              << "next: have the parent CA sign the request, then run custos install-ca-cert --cert FILE\n";
  } else {
    std::cout << "  certificate  " << result.output.string() << " (serial " << result.serial << ", SHA-256 "
              << result.fingerprint << ")\n";
  }
}

void run_install_ca_cert(const InstallCaCertCommand& command) {
  auto ca = engine::CertificateAuthority::open(command.directory, command.token);
  std::string pem = read_text_file(command.certificate_file, kMaxCertificateFileBytes);
  ossl::Ptr<X509> certificate = ca->install_certificate(pem, engine::local_actor());
  std::string subject = x509::format_name(X509_get_subject_name(certificate.get()));
  std::string issuer = x509::format_name(X509_get_issuer_name(certificate.get()));
  std::string serial = x509::serial_hex(certificate.get());
  if (command.json) {
    print_json({{"subject", subject},
                {"issuer", issuer},
                {"serial", serial},
                {"certificate", ca->paths().certificate.string()},
                {"chain", ca->paths().chain.string()}});
    return;
  }
  std::cout << "installed the CA certificate \"" << subject << "\" (serial " << serial << "), issued by \"" << issuer
            << "\"\n  certificate  " << ca->paths().certificate.string() << "\n  chain        "
            << ca->paths().chain.string() << "\n";
}

void run_ca_cert(const std::filesystem::path& directory, const std::optional<std::filesystem::path>& out) {
  std::string chain = engine::read_ca_chain(directory);
  if (out) {
    write_file_atomic(*out, chain);
  } else {
    std::cout << chain;
  }
}

void run_token_check(const engine::TokenOptions& token, bool json) {
  engine::TokenCheck check = engine::check_token(token);
  if (json) {
    print_json(check.to_json());
  } else {
    std::cout << check.to_text();
  }
}

namespace {

// The quirks-table row in force for the CA's token, found from what the
// token reports (no login), or why it cannot be said.
std::string quirks_in_force(const engine::CaConfig& config) {
  try {
    std::shared_ptr<hsm::Module> module = hsm::Module::load(config.token.module);
    const hsm::QuirkRow* row = hsm::quirk_row_for(module->find_token(config.token.label));
    return row != nullptr ? std::string(row->name) : "none (the standard's defaults)";
  } catch (const Error& error) {
    return std::string("unknown: ") + error.what();
  }
}

}  // namespace

void run_config(const std::filesystem::path& directory, bool json) {
  engine::CaConfig config = engine::load_config(engine::CaPaths(directory).config);
  if (json) {
    nlohmann::json out = engine::config_to_json(config);
    out["token"]["quirks"] = quirks_in_force(config);
    print_json(out);
    return;
  }
  std::string exits;
  for (const engine::ModuleSection& exit : config.exits) exits += (exits.empty() ? "" : ", ") + exit.module;
  std::cout << "name        " << config.ca.name << "\n"
            << "subject     " << config.ca.subject << "\n"
            << "kind        " << (config.ca.subordinate ? "subordinate" : "root") << "\n"
            << "key         " << hsm::key_type_name(config.ca.key_type) << " '" << config.ca.key.label
            << "', signing with " << hsm::signature_scheme_name(config.ca.signature) << "\n"
            << "token       '" << config.token.label << "' via " << config.token.module.string() << "\n"
            << "quirks      " << quirks_in_force(config) << "\n"
            << "database    " << config.database.file.string() << " (keyed by "
            << engine::database_key_method_name(config.database.key_method) << " on the token)\n"
            << "policy      " << config.policy.module << " (timeout " << config.policy_timeout_ms << " ms)\n"
            << "profiles    " << describe_profiles(config) << "\n"
            << "exit        " << (exits.empty() ? "(none)" : exits) << "\n";
}

void run_lint(const std::filesystem::path& file, bool json) {
  std::vector<std::uint8_t> bytes = read_file(file, 16 << 20);
  std::string text(bytes.begin(), bytes.end());
  ossl::Ptr<BIO> memory(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  std::vector<x509::Finding> findings;
  std::string what;
  bool pem = text.find("-----BEGIN") != std::string::npos;
  auto certificate = [&]() -> ossl::Ptr<X509> {
    if (pem) return ossl::Ptr<X509>(PEM_read_bio_X509(memory.get(), nullptr, nullptr, nullptr));
    const unsigned char* cursor = bytes.data();
    return ossl::Ptr<X509>(d2i_X509(nullptr, &cursor, static_cast<long>(bytes.size())));
  }();
  if (certificate) {
    findings = x509::lint_certificate(certificate.get());
    what = "certificate " + x509::serial_hex(certificate.get());
  } else {
    BIO_reset(memory.get());
    ERR_clear_error();
    const unsigned char* cursor = bytes.data();
    x509::CrlPtr crl(pem ? PEM_read_bio_X509_CRL(memory.get(), nullptr, nullptr, nullptr)
                         : d2i_X509_CRL(nullptr, &cursor, static_cast<long>(bytes.size())));
    if (!crl) throw Error(file.string() + " is neither a certificate nor a CRL (PEM or DER)");
    findings = x509::lint_crl(crl.get(), true);
    what = "CRL";
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const x509::Finding& finding : findings) {
      out.push_back({{"rule", finding.rule},
                     {"clause", finding.clause},
                     {"severity", finding.severity == x509::Severity::kError ? "error" : "warning"},
                     {"message", finding.message}});
    }
    print_json(out);
  } else {
    for (const x509::Finding& finding : findings) std::cout << finding.to_text() << "\n";
    if (findings.empty()) std::cout << file.string() << ": " << what << ": no finding\n";
  }
  if (x509::has_errors(findings)) throw Error(file.string() + ": the " + what + " breaks an error-level rule");
}

void run_lint_rules(bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [rule, clause] : x509::lint_rules()) out.push_back({{"rule", rule}, {"clause", clause}});
    print_json(out);
    return;
  }
  for (const auto& [rule, clause] : x509::lint_rules()) std::cout << rule << "  (" << clause << ")\n";
}

}  // namespace custos::cli
