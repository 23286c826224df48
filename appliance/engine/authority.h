// A certificate authority's directory and the operations that create and
// open it: `init` (key on the token, self-signed certificate or request to
// a parent, configuration, encrypted database), `open` (token, key, store),
// and installing a subordinate CA's certificate.
//
//   InitResult made = init_ca({.directory = dir, .subject = "CN=Root", .key_type = "ec-p256", .token = options});
//   auto ca = CertificateAuthority::open(dir, options);
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "appliance/engine/config.h"
#include "common/openssl.h"
#include "hsm/pin.h"
#include "hsm/token.h"
#include "storage/store.h"

namespace custos::engine {

// Where the files of a CA directory live.
struct CaPaths {
  explicit CaPaths(std::filesystem::path directory);
  std::filesystem::path directory;
  std::filesystem::path config;       // custos.toml
  std::filesystem::path certificate;  // ca.pem: the CA's own certificate
  std::filesystem::path chain;        // chain.pem: its issuers up to the root (subordinate CAs)
  std::filesystem::path token_lock;   // .token.lock: processes take turns logging in and out
};

// The token options every command that opens the CA accepts; unset
// values come from custos.toml (or, at init, from the built-in default).
struct TokenOptions {
  std::optional<std::filesystem::path> module;
  std::optional<std::string> label;
  hsm::PinSource pin;
};

// Logs in to the token `options` names, with init's defaults: the build's
// module (the CLI puts CUSTOS_HSM_MODULE first), the label "custos".
std::unique_ptr<hsm::Token> open_token(const TokenOptions& options);

struct InitOptions {
  std::filesystem::path directory;
  std::string subject;
  std::string key_type;
  int validity_days = 3650;
  bool subordinate = false;
  std::optional<std::filesystem::path> csr_out;
  std::optional<std::string> database_key_method;  // hmac-sha256 | rsa-oaep; chosen from the token when unset
  // Where relying parties find revocation and the CA certificate: [crl]
  // distribution_points, [aia] ocsp and ca_issuers of the new custos.toml.
  std::vector<std::string> crl_urls;
  std::vector<std::string> ocsp_urls;
  std::vector<std::string> ca_issuers_urls;
  TokenOptions token;
  std::string actor;  // for the audit log
};

struct InitResult {
  CaConfig config;
  std::filesystem::path output;  // ca.pem, or the CSR for a subordinate CA
  std::string serial;            // root only
  std::string fingerprint;       // SHA-256 of the certificate (root) or request
};

// Creates a CA in `options.directory`. Refuses a directory that already
// holds one. On any failure it removes what it made — token objects,
// files, the directory if it created it — and rethrows.
InitResult init_ca(const InitOptions& options);

// The CA certificate chain as PEM (ca.pem, then chain.pem), read from the
// directory without the token.
std::string read_ca_chain(const std::filesystem::path& directory);

class CertificateAuthority {
 public:
  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

  // Loads custos.toml, logs in to the token, checks the CA key is there,
  // derives the database key and opens the store.
  static std::unique_ptr<CertificateAuthority> open(const std::filesystem::path& directory,
                                                    const TokenOptions& options);
  // The same with custos.toml loaded already (from CaPaths(directory).config).
  static std::unique_ptr<CertificateAuthority> open(const std::filesystem::path& directory,
                                                    const TokenOptions& options, CaConfig config);

  const CaConfig& config() const { return config_; }
  // Reads custos.toml again (custosd on SIGHUP): profiles, modules,
  // publication, roles and the front end may change; [ca], [token] and
  // [database] describe keys on the token and may not. Throws custos::Error
  // and keeps the configuration in force when the file is wrong.
  void reload_config();
  const CaPaths& paths() const { return paths_; }
  hsm::Token& token() { return *token_; }
  storage::Store& store() { return *store_; }
  // Another connection to the same database, keyed from the token again:
  // for a reader beside the store() in use (custosd's status lane, with
  // the full page cache), or another engine.
  std::unique_ptr<storage::Store> open_another_connection(
      int page_cache_kib = storage::StoreLocation::kDefaultPageCacheKiB);

  // Installs the parent-signed certificate of a subordinate CA. `pem` holds
  // the CA certificate first, then its issuers up to a self-signed root.
  // Checks that the certificate is for the token's key, is a CA
  // certificate, and chains to the root given; then writes chain.pem and
  // ca.pem and records the installation. Returns the installed certificate.
  ossl::Ptr<X509> install_certificate(const std::string& pem, const std::string& actor);

 private:
  CertificateAuthority(CaPaths paths, CaConfig config, std::unique_ptr<hsm::Token> token,
                       std::unique_ptr<storage::Store> store);

  CaPaths paths_;
  CaConfig config_;
  std::unique_ptr<hsm::Token> token_;
  std::unique_ptr<storage::Store> store_;
};

// The actor name the CLI records in the audit log: "cli uid=N".
std::string local_actor();

// A positive 128-bit serial from the token's generator: the top bit clear,
// the next set, so it keeps its full length and is never zero (RFC 5280
// allows 20 octets; the CA/Browser Forum asks for 64 random bits at least).
std::vector<std::uint8_t> random_serial(hsm::Token& token);

}  // namespace custos::engine
