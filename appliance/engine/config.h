// custos.toml: what a CA directory holds — the CA's identity, where its
// keys are on the token, how its database is keyed, its policy module,
// profiles and exit modules. Loaded strictly: an unknown key is an error
// that names it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "appliance/operations/operations.h"

#include "appliance/x509/certificate.h"
#include "hsm/keys.h"
#include "storage/store.h"

namespace custos::engine {

enum class DatabaseKeyMethod { kHmacSha256, kRsaOaep };
std::string_view database_key_method_name(DatabaseKeyMethod method);  // "hmac-sha256", "rsa-oaep"
std::optional<DatabaseKeyMethod> parse_database_key_method(std::string_view name);

struct CaSection {
  std::string name;     // for people and file names: the subject's CN
  std::string subject;  // RFC 4514, as requested at init
  bool subordinate = false;
  hsm::KeyType key_type = hsm::KeyType::kEcP256;
  hsm::SignatureScheme signature = hsm::SignatureScheme::kEcdsaSha256;
  hsm::KeyRef key;
};

struct TokenSection {
  std::filesystem::path module;
  std::string label;
  std::string serial;  // the token's serial number: a look-alike label is refused
  std::int64_t sessions = 4;
};

struct DatabaseSection {
  std::string backend = "sqlcipher";         // storage/store.h open_store
  std::filesystem::path file = "custos.db";  // relative to the CA directory
  std::string id;
  DatabaseKeyMethod key_method = DatabaseKeyMethod::kHmacSha256;
  hsm::KeyRef key;
  std::string wrapped_key;                                // base64, rsa-oaep only
  hsm::OaepDigest oaep_digest = hsm::OaepDigest::kSha256;  // rsa-oaep only
};

struct ProfileSection {
  std::string name;
  std::string decision;  // issue | pend | deny
  std::int64_t validity_days = 0;
  std::vector<std::string> key_types;
  std::vector<std::string> key_usage;
  std::vector<std::string> extended_key_usage;
  bool san_required = false;
  bool ca = false;
  std::optional<std::int64_t> path_length;
  // certificatePolicies: "OID" or {oid = "…", cps = "https://…"} in
  // custos.toml.
  std::vector<x509::CertificatePolicy> certificate_policies;
  // What custosd does with a request from a client it could not
  // authenticate: refuse it (the default), pend it for an officer, or
  // issue it (closed networks only).
  std::string unauthenticated = "refuse";
};

struct ModuleSection {
  std::string module;      // builtin:NAME or exec:PATH [ARGS]
  nlohmann::json config;   // every other key of its table, for hello.config
  // `network = true`: the module keeps the engine's whole network (the
  // LDAP exit module on a trusted network). `network = [URL or HOST:PORT,
  // …]`: it may connect to exactly those destinations, each as
  // "HOST:PORT", and to nothing else. Neither: no network.
  bool whole_network = false;
  std::vector<std::string> destinations;
};

// "ldaps://dir.example:636", "https://hr.example/api" or "hr.example:443"
// as "HOST:PORT" (a URL's port defaults by its scheme: http 80, https 443,
// ldap 389, ldaps 636). Throws custos::Error naming what is wrong.
std::string network_destination(const std::string& text);

// Where issued certificates point relying parties, and how CRLs are made.
struct PublicationSection {
  std::vector<std::string> crl_urls;         // [crl] distribution_points
  std::filesystem::path crl_file = "ca.crl";  // [crl] file: the current CRL, DER, relative to the CA directory
  std::int64_t crl_next_update_hours = 168;   // [crl] next_update_hours
  std::vector<std::string> ocsp_urls;        // [aia] ocsp
  std::vector<std::string> ca_issuers_urls;  // [aia] ca_issuers
};

// Throws custos::Error naming a CRL, OCSP or caIssuers URL that cannot be
// used (not a URL, or with a comma OpenSSL's extension syntax would split).
void check_publication_urls(const PublicationSection& publication);

// The profile of a request that names none.
inline constexpr char kDefaultProfile[] = "server";

// The common-criteria CA roles (the operation table's). Requesters need none.
using Role = operations::Role;
using operations::role_name;

// [roles]: who holds which role, as identities "uid:N" (a local user on
// custosd's socket), "cert:SHA256" (a TLS client certificate's fingerprint,
// lower-case hex) or "user:NAME" (HTTP basic auth against [http.users]).
struct RolesSection {
  bool configured = false;  // without [roles], custosd's own uid holds every role
  std::map<std::string, std::vector<Role>> grants;  // identity → its roles
  bool allow_officer_administrator = false;
};

// The roles `identity` holds under [roles]. Without [roles], `owner` (the
// identity the CA runs as) holds every role and nobody else any.
std::vector<Role> roles_held(const RolesSection& roles, const std::string& identity, const std::string& owner);

// [server]: custosd's local socket, custosd.sock in the CA directory
// (mode 0660), where the CLI finds it without reading custos.toml.
struct ServerSection {
  std::string socket_group;  // a group name or gid that may connect besides the owner
};

// [http]: custosd's HTTP front end.
struct HttpSection {
  std::string listen = "127.0.0.1:8443";  // HTTPS
  std::string plain_listen;               // plain HTTP for /crl and /ocsp, off when empty
  std::vector<std::string> hostnames;     // DNS names for the front end's own certificate
  std::filesystem::path certificate;      // an operator's TLS certificate (PEM) …
  std::filesystem::path key;              // … and key; else Custos issues one at first start
  std::int64_t max_connections = 64;
  // For /.well-known/est/simpleenroll without a label. EST enrolls devices
  // whose certificate then authenticates them, their renewal first
  // (RFC 7030 §3.3.2): a TLS client certificate, so `client`.
  std::string est_profile = "client";
  std::map<std::string, std::string> users;  // [http.users.NAME] password_hash (crypto_pwhash_str)
};

// [ocsp]: who signs OCSP responses and for how long they are good.
struct OcspSection {
  bool delegated = false;               // signer = "delegated": an OCSP signing key of its own on the token
  std::int64_t response_validity_minutes = 720;  // 12 hours: inside BR 4.9.10's 8 hours to 10 days
  std::int64_t signer_validity_days = 30;
};

struct CaConfig {
  CaSection ca;
  TokenSection token;
  DatabaseSection database;
  ModuleSection policy;
  std::int64_t policy_timeout_ms = 2000;
  std::vector<ProfileSection> profiles;
  std::vector<ModuleSection> exits;
  PublicationSection publication;
  bool require_namespaces = true;  // [sandbox] require_namespaces
  RolesSection roles;
  ServerSection server;
  HttpSection http;
  OcspSection ocsp;

  const ProfileSection* find_profile(const std::string& name) const;
  // Whether a profile issues serverAuth: the CA/Browser Forum's rules then
  // bind its CRLs and OCSP responses too.
  bool issues_tls_server_certificates() const;
};

// Where [database] says the store is (its path as written: relative to
// the CA directory unless absolute; callers resolve it).
storage::StoreLocation store_location(const CaConfig& config);

// Reads and checks custos.toml. Throws custos::Error naming the file, the
// key and what is wrong with it.
CaConfig load_config(const std::filesystem::path& path);
// The same for text in hand; `origin` names it in messages.
CaConfig parse_config(std::string_view text, const std::string& origin);

// The custos.toml text for a new CA: its [ca], [token] and [database]
// tables, then the default policy and profiles from packaging/.
std::string render_new_config(const CaConfig& config);

// The configuration as JSON, for `custos config --json`.
nlohmann::json config_to_json(const CaConfig& config);

}  // namespace custos::engine
