#include "appliance/engine/config.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <sstream>

#include <toml++/toml.h>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/error.h"
#include "common/files.h"
#include "packaging/default_policy.h"

namespace custos::engine {
namespace {

const std::vector<std::string> kKnownKeyUsages = {"digitalSignature", "nonRepudiation", "keyEncipherment",
                                                  "dataEncipherment", "keyAgreement",   "keyCertSign",
                                                  "cRLSign"};

// An integer key's value, or nothing when the value is not an integer.
// Only an integer: toml++ 3.3's value<std::int64_t>() converts a float
// such as 3e36 to int64 without checking its range first (undefined
// behaviour, found by fuzz_config), and 90.0 days is not what a reader of
// the file would call an integer either.
std::optional<std::int64_t> integer(toml::node_view<const toml::node> node) {
  return node.value_exact<std::int64_t>();
}

// Reads one table of custos.toml, refusing keys it does not know.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where, std::vector<std::string> known)
      : table_(table), where_(std::move(where)) {
    for (const auto& [key, value] : table) {
      std::string name(key.str());
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        throw Error("unknown key '" + qualified(name) + "'");
      }
    }
  }

  std::string text(const std::string& key) const {
    auto value = table_[key].value<std::string>();
    if (!value) throw Error("'" + qualified(key) + "' must be set to a string");
    return *value;
  }
  std::string text_or(const std::string& key, const std::string& fallback) const {
    return table_.contains(key) ? text(key) : fallback;
  }
  std::int64_t number(const std::string& key) const {
    auto value = integer(table_[key]);
    if (!value) throw Error("'" + qualified(key) + "' must be set to an integer");
    return *value;
  }
  std::int64_t number_or(const std::string& key, std::int64_t fallback) const {
    return table_.contains(key) ? number(key) : fallback;
  }
  bool flag_or(const std::string& key, bool fallback) const {
    if (!table_.contains(key)) return fallback;
    auto value = table_[key].value<bool>();
    if (!value) throw Error("'" + qualified(key) + "' must be true or false");
    return *value;
  }
  std::vector<std::string> texts_or_empty(const std::string& key) const {
    std::vector<std::string> values;
    if (!table_.contains(key)) return values;
    const toml::array* array = table_[key].as_array();
    if (array == nullptr) throw Error("'" + qualified(key) + "' must be a list of strings");
    for (const toml::node& node : *array) {
      auto value = node.value<std::string>();
      if (!value) throw Error("'" + qualified(key) + "' must be a list of strings");
      values.push_back(*value);
    }
    return values;
  }
  const toml::table& table(const std::string& key) const {
    const toml::table* value = table_[key].as_table();
    if (value == nullptr) throw Error("the table [" + qualified(key) + "] is missing");
    return *value;
  }
  std::string qualified(const std::string& key) const { return where_.empty() ? key : where_ + "." + key; }

 private:
  const toml::table& table_;
  std::string where_;
};

hsm::KeyRef read_key_ref(const TableReader& table) {
  return {table.text("key_label"), from_hex(table.text("key_id"))};
}

template <typename T>
T parsed(std::optional<T> value, const std::string& key, const std::string& allowed) {
  if (!value) throw Error("'" + key + "' must be one of " + allowed);
  return *value;
}

// "2.23.140.1.2.1" or {oid = "1.3.6.1.4.1.99999.1", cps = "https://…"}.
std::vector<x509::CertificatePolicy> read_policies(const toml::table& table, const std::string& where) {
  std::vector<x509::CertificatePolicy> policies;
  if (!table.contains("certificate_policies")) return policies;
  const toml::array* entries = table["certificate_policies"].as_array();
  if (entries == nullptr) throw Error("'" + where + "' must be a list of OIDs or {oid, cps} tables");
  for (const toml::node& entry : *entries) {
    x509::CertificatePolicy policy;
    if (auto oid = entry.value<std::string>()) {
      policy.oid = *oid;
    } else if (const toml::table* fields = entry.as_table()) {
      TableReader reader(*fields, where, {"oid", "cps"});
      policy.oid = reader.text("oid");
      policy.cps_uri = reader.text_or("cps", "");
      if (!policy.cps_uri.empty() && !policy.cps_uri.starts_with("http://") && !policy.cps_uri.starts_with("https://")) {
        throw Error("'" + where + "' cps must be an http:// or https:// URL, not '" + policy.cps_uri + "'");
      }
    } else {
      throw Error("'" + where + "' must be a list of OIDs or {oid, cps} tables");
    }
    if (!x509::is_canonical_oid(policy.oid)) throw Error("'" + where + "': '" + policy.oid + "' is not a dotted OID");
    policies.push_back(std::move(policy));
  }
  return policies;
}

ProfileSection read_profile(const std::string& name, const toml::table& table) {
  TableReader reader(table, "profiles." + name,
                     {"decision", "validity_days", "key_types", "key_usage", "extended_key_usage", "san_required", "ca",
                      "path_length", "unauthenticated", "certificate_policies"});
  ProfileSection profile;
  profile.name = name;
  profile.decision = reader.text("decision");
  if (profile.decision != "issue" && profile.decision != "pend" && profile.decision != "deny") {
    throw Error("'" + reader.qualified("decision") + "' must be issue, pend or deny");
  }
  profile.validity_days = reader.number("validity_days");
  if (profile.validity_days <= 0) throw Error("'" + reader.qualified("validity_days") + "' must be positive");
  profile.key_types = reader.texts_or_empty("key_types");
  for (const std::string& type : profile.key_types) {
    if (!hsm::parse_key_type(type)) {
      throw Error("'" + reader.qualified("key_types") + "' names an unknown key type '" + type + "' (known: " +
                  hsm::key_type_names() + ")");
    }
  }
  profile.key_usage = reader.texts_or_empty("key_usage");
  for (const std::string& usage : profile.key_usage) {
    if (std::find(kKnownKeyUsages.begin(), kKnownKeyUsages.end(), usage) == kKnownKeyUsages.end()) {
      throw Error("'" + reader.qualified("key_usage") + "' names an unknown key usage '" + usage + "'");
    }
  }
  profile.extended_key_usage = reader.texts_or_empty("extended_key_usage");
  profile.san_required = reader.flag_or("san_required", false);
  profile.ca = reader.flag_or("ca", false);
  if (table.contains("path_length")) {
    profile.path_length = reader.number("path_length");
    if (!profile.ca || *profile.path_length < 0) {
      throw Error("'" + reader.qualified("path_length") + "' needs ca = true and a value of 0 or more");
    }
  }
  profile.certificate_policies = read_policies(table, reader.qualified("certificate_policies"));
  profile.unauthenticated = reader.text_or("unauthenticated", "refuse");
  if (profile.unauthenticated != "refuse" && profile.unauthenticated != "pend" && profile.unauthenticated != "issue") {
    throw Error("'" + reader.qualified("unauthenticated") + "' must be refuse, pend or issue");
  }
  return profile;
}

bool is_identity(const std::string& identity) {
  auto all_of = [](std::string_view text, auto predicate) {
    return !text.empty() && std::all_of(text.begin(), text.end(), predicate);
  };
  std::string_view rest(identity);
  if (identity.starts_with("uid:")) return all_of(rest.substr(4), [](char c) { return std::isdigit(c) != 0; });
  if (identity.starts_with("user:")) return all_of(rest.substr(5), [](char c) { return std::isgraph(c) != 0 && c != ':'; });
  if (identity.starts_with("cert:")) {
    return rest.size() == 5 + 64 && all_of(rest.substr(5), [](char c) { return std::isxdigit(c) != 0 && !std::isupper(c); });
  }
  return false;
}

RolesSection read_roles(const TableReader& reader) {
  RolesSection roles;
  roles.configured = true;
  roles.allow_officer_administrator = reader.flag_or("allow_officer_administrator", false);
  for (Role role : {Role::kAdministrator, Role::kOfficer, Role::kAuditor, Role::kOperator}) {
    std::string key(role_name(role));
    for (const std::string& identity : reader.texts_or_empty(key)) {
      if (!is_identity(identity)) {
        throw Error("'roles." + key + "' holds '" + identity +
                    "': an identity is uid:N, user:NAME or cert:SHA256 (64 lower-case hex digits)");
      }
      roles.grants[identity].push_back(role);
    }
  }
  if (!roles.allow_officer_administrator) {
    for (const auto& [identity, granted] : roles.grants) {
      bool officer = std::find(granted.begin(), granted.end(), Role::kOfficer) != granted.end();
      bool administrator = std::find(granted.begin(), granted.end(), Role::kAdministrator) != granted.end();
      if (officer && administrator) {
        throw Error("'" + identity + "' is both officer and administrator; separate the duties or set "
                    "roles.allow_officer_administrator = true");
      }
    }
  }
  return roles;
}

HttpSection read_http(const TableReader& reader, const toml::table& table) {
  HttpSection http;
  http.listen = reader.text_or("listen", http.listen);
  http.plain_listen = reader.text_or("plain_listen", "");
  http.hostnames = reader.texts_or_empty("hostnames");
  http.certificate = reader.text_or("certificate", "");
  http.key = reader.text_or("key", "");
  if (http.certificate.empty() != http.key.empty()) throw Error("'http.certificate' and 'http.key' go together");
  http.max_connections = reader.number_or("max_connections", http.max_connections);
  if (http.max_connections < 1 || http.max_connections > 4096) throw Error("'http.max_connections' must be 1 to 4096");
  http.est_profile = reader.text_or("est_profile", http.est_profile);
  if (table.contains("users")) {
    const toml::table& users = reader.table("users");
    for (const auto& [name, node] : users) {
      const toml::table* user = node.as_table();
      std::string where = "http.users." + std::string(name.str());
      if (user == nullptr) throw Error("'" + where + "' must be a table");
      std::string hash = TableReader(*user, where, {"password_hash"}).text("password_hash");
      if (!hash.starts_with("$argon2")) {
        throw Error("'" + where + ".password_hash' must be a crypto_pwhash string ($argon2id$…); "
                    "make one with custos hash-password");
      }
      http.users[std::string(name.str())] = hash;
    }
  }
  return http;
}

ModuleSection read_module(const toml::table& table, const std::string& where) {
  ModuleSection section;
  auto module = table["module"].value<std::string>();
  if (!module) throw Error("'" + where + ".module' must be set to builtin:NAME or exec:PATH");
  if (!module->starts_with("builtin:") && !module->starts_with("exec:")) {
    throw Error("'" + where + ".module' must start with builtin: or exec:, not '" + *module + "'");
  }
  section.module = *module;
  // Everything else in the table is the module's own configuration; the
  // module itself refuses keys it does not know, when it is started.
  std::ostringstream json;
  json << toml::json_formatter(table);
  section.config = nlohmann::json::parse(json.str());
  section.config.erase("module");
  if (section.config.contains("network")) {
    const nlohmann::json& network = section.config["network"];
    if (network.is_boolean()) {
      section.whole_network = network.get<bool>();
    } else if (network.is_array()) {
      for (const nlohmann::json& entry : network) {
        if (!entry.is_string()) throw Error("'" + where + ".network' must list URLs or HOST:PORT strings");
        try {
          section.destinations.push_back(network_destination(entry.get<std::string>()));
        } catch (const Error& error) {
          throw Error("'" + where + ".network': " + error.what());
        }
      }
    } else {
      throw Error("'" + where + ".network' must be true, false or a list of destinations");
    }
    section.config.erase("network");
  }
  return section;
}

CaConfig read_config(const toml::table& root) {
  TableReader top(root, "", {"ca", "token", "database", "policy", "profiles", "exit", "crl", "aia", "sandbox", "roles",
                             "server", "http", "ocsp"});
  CaConfig config;

  TableReader ca(top.table("ca"), "ca",
                 {"name", "subject", "kind", "key_type", "signature", "key_label", "key_id"});
  config.ca.name = ca.text("name");
  config.ca.subject = ca.text("subject");
  std::string kind = ca.text("kind");
  if (kind != "root" && kind != "subordinate") throw Error("'ca.kind' must be root or subordinate");
  config.ca.subordinate = kind == "subordinate";
  config.ca.key_type = parsed(hsm::parse_key_type(ca.text("key_type")), "ca.key_type", hsm::key_type_names());
  config.ca.signature = parsed(hsm::parse_signature_scheme(ca.text("signature")), "ca.signature",
                               "a signature scheme such as ecdsa-sha256 or rsa-pss-sha256");
  if (!hsm::scheme_fits_key(config.ca.signature, config.ca.key_type)) {
    throw Error("'ca.signature' " + std::string(hsm::signature_scheme_name(config.ca.signature)) +
                " does not fit the key type " + std::string(hsm::key_type_name(config.ca.key_type)));
  }
  config.ca.key = read_key_ref(ca);

  TableReader token(top.table("token"), "token", {"module", "label", "serial", "sessions"});
  config.token.module = token.text("module");
  config.token.label = token.text("label");
  config.token.serial = token.text_or("serial", "");
  config.token.sessions = token.number_or("sessions", 4);
  if (config.token.sessions < 1 || config.token.sessions > 256) throw Error("'token.sessions' must be 1 to 256");

  TableReader database(top.table("database"), "database",
                       {"backend", "file", "id", "key_method", "key_label", "key_id", "wrapped_key", "oaep_digest"});
  config.database.backend = database.text_or("backend", "sqlcipher");
  const std::vector<std::string>& backends = storage::store_backends();
  if (std::find(backends.begin(), backends.end(), config.database.backend) == backends.end()) {
    throw Error("'database.backend' must be sqlcipher, the one store backend this custos has, not '" +
                config.database.backend + "'");
  }
  config.database.file = database.text_or("file", "custos.db");
  config.database.id = database.text("id");
  config.database.key_method = parsed(parse_database_key_method(database.text("key_method")),
                                      "database.key_method", "hmac-sha256 or rsa-oaep");
  config.database.key = read_key_ref(database);
  if (config.database.key_method == DatabaseKeyMethod::kRsaOaep) {
    config.database.wrapped_key = database.text("wrapped_key");
    config.database.oaep_digest =
        parsed(hsm::parse_oaep_digest(database.text("oaep_digest")), "database.oaep_digest", "sha256 or sha1");
  }

  // [policy]'s other keys are the module's configuration; the module refuses
  // those it does not know when it starts.
  const toml::table& policy = top.table("policy");
  config.policy = read_module(policy, "policy");
  if (policy.contains("timeout_ms")) {
    auto timeout = integer(policy["timeout_ms"]);
    if (!timeout || *timeout < 1 || *timeout > 600'000) throw Error("'policy.timeout_ms' must be 1 to 600000");
    config.policy_timeout_ms = *timeout;
  }
  config.policy.config.erase("timeout_ms");

  if (root.contains("crl")) {
    TableReader crl(top.table("crl"), "crl", {"distribution_points", "file", "next_update_hours"});
    config.publication.crl_urls = crl.texts_or_empty("distribution_points");
    config.publication.crl_file = crl.text_or("file", "ca.crl");
    config.publication.crl_next_update_hours = crl.number_or("next_update_hours", 168);
    if (config.publication.crl_next_update_hours < 1) throw Error("'crl.next_update_hours' must be positive");
  }
  if (root.contains("sandbox")) {
    config.require_namespaces =
        TableReader(top.table("sandbox"), "sandbox", {"require_namespaces"}).flag_or("require_namespaces", true);
  }
  if (root.contains("roles")) {
    config.roles = read_roles(TableReader(top.table("roles"), "roles",
                                          {"administrator", "officer", "auditor", "operator",
                                           "allow_officer_administrator"}));
  }
  if (root.contains("server")) {
    config.server.socket_group =
        TableReader(top.table("server"), "server", {"socket_group"}).text_or("socket_group", "");
  }
  if (root.contains("http")) {
    config.http = read_http(TableReader(top.table("http"), "http",
                                        {"listen", "plain_listen", "hostnames", "certificate", "key",
                                         "max_connections", "est_profile", "users"}),
                            top.table("http"));
  }
  if (root.contains("ocsp")) {
    TableReader ocsp(top.table("ocsp"), "ocsp", {"signer", "response_validity_minutes", "signer_validity_days"});
    std::string signer = ocsp.text_or("signer", "ca");
    if (signer != "ca" && signer != "delegated") throw Error("'ocsp.signer' must be ca or delegated");
    config.ocsp.delegated = signer == "delegated";
    config.ocsp.response_validity_minutes = ocsp.number_or("response_validity_minutes", OcspSection{}.response_validity_minutes);
    config.ocsp.signer_validity_days = ocsp.number_or("signer_validity_days", 30);
    if (config.ocsp.response_validity_minutes < 1 || config.ocsp.signer_validity_days < 1) {
      throw Error("'ocsp.response_validity_minutes' and 'ocsp.signer_validity_days' must be positive");
    }
  }
  if (root.contains("aia")) {
    TableReader aia(top.table("aia"), "aia", {"ocsp", "ca_issuers"});
    config.publication.ocsp_urls = aia.texts_or_empty("ocsp");
    config.publication.ca_issuers_urls = aia.texts_or_empty("ca_issuers");
  }
  check_publication_urls(config.publication);

  if (root.contains("profiles")) {
    const toml::table* profiles = root["profiles"].as_table();
    if (profiles == nullptr) throw Error("'profiles' must be a table of profiles");
    for (const auto& [name, node] : *profiles) {
      const toml::table* profile = node.as_table();
      if (profile == nullptr) throw Error("'profiles." + std::string(name.str()) + "' must be a table");
      config.profiles.push_back(read_profile(std::string(name.str()), *profile));
    }
  }
  // BR 4.9.10: a TLS CA's OCSP responses are valid for 8 hours to 10 days.
  if (config.issues_tls_server_certificates() &&
      (config.ocsp.response_validity_minutes < 8 * 60 || config.ocsp.response_validity_minutes > 10 * 24 * 60)) {
    throw Error("'ocsp.response_validity_minutes' must be 480 to 14400 (8 hours to 10 days, CA/Browser Forum BR "
                "4.9.10) for a CA whose profiles issue serverAuth, not " +
                std::to_string(config.ocsp.response_validity_minutes));
  }
  if (root.contains("exit")) {
    const toml::array* exits = root["exit"].as_array();
    if (exits == nullptr) throw Error("'exit' must be an array of tables ([[exit]])");
    for (const toml::node& node : *exits) {
      const toml::table* exit = node.as_table();
      if (exit == nullptr) throw Error("each [[exit]] must be a table");
      config.exits.push_back(read_module(*exit, "exit"));
      const nlohmann::json& module_config = config.exits.back().config;
      for (const char* limit : {"dir_max_mb", "dir_max_files"}) {
        if (module_config.contains(limit) &&
            (!module_config[limit].is_number_integer() || module_config[limit].get<std::int64_t>() < 1 ||
             module_config[limit].get<std::int64_t>() > (std::int64_t{1} << 32))) {
          throw Error(std::string("'exit.") + limit + "' must be a whole number from 1 to 4294967296");
        }
      }
      if (module_config.contains("dir")) {
        if (!module_config["dir"].is_string() || !is_relative_path_beneath(module_config["dir"].get<std::string>())) {
          throw Error("'exit.dir' must be a relative path beneath the CA directory, without '..': " +
                      module_config["dir"].dump());
        }
      }
    }
  }
  return config;
}

std::string quoted(const std::string& text) {
  std::ostringstream out;
  out << toml::value<std::string>(text);
  return out.str();
}

}  // namespace

void check_publication_urls(const PublicationSection& publication) {
  for (const auto* urls : {&publication.crl_urls, &publication.ocsp_urls, &publication.ca_issuers_urls}) {
    for (const std::string& url : *urls) {
      // OpenSSL's extension syntax, which builds CDP and AIA, splits on commas.
      if (url.find(',') != std::string::npos || url.find("://") == std::string::npos) {
        throw Error("'" + url + "' in [crl] or [aia] must be a URL without commas");
      }
      // Quoted into custos.toml by init.
      if (url.find_first_of("\"\\\n") != std::string::npos) throw Error("'" + url + "' is not a URL");
    }
  }
}

std::string network_destination(const std::string& text) {
  static const std::map<std::string, int> kDefaultPorts = {{"http", 80}, {"https", 443}, {"ldap", 389}, {"ldaps", 636}};
  std::string rest = text;
  std::optional<int> port;
  if (std::size_t scheme_end = rest.find("://"); scheme_end != std::string::npos) {
    auto known = kDefaultPorts.find(rest.substr(0, scheme_end));
    if (known != kDefaultPorts.end()) port = known->second;
    rest = rest.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
  }
  if (rest.starts_with("[")) throw Error("'" + text + "': IPv6 destinations are not supported; name the host");
  std::string host = rest.substr(0, rest.find(':'));
  if (std::size_t colon = rest.find(':'); colon != std::string::npos) {
    std::string digits = rest.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) {
      throw Error("'" + text + "' has no valid port");
    }
    port = std::stoi(digits);
  }
  bool name_like = !host.empty() && host.size() <= 253 && host.front() != '.' && host.front() != '-' &&
                   std::all_of(host.begin(), host.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'; });
  if (!name_like) throw Error("'" + text + "' names no host");
  if (!port || *port < 1 || *port > 65535) throw Error("'" + text + "' needs a port (HOST:PORT, or a URL of http, https, ldap or ldaps)");
  return host + ":" + std::to_string(*port);
}

const ProfileSection* CaConfig::find_profile(const std::string& name) const {
  for (const ProfileSection& profile : profiles) {
    if (profile.name == name) return &profile;
  }
  return nullptr;
}

bool CaConfig::issues_tls_server_certificates() const {
  return std::any_of(profiles.begin(), profiles.end(), [](const ProfileSection& profile) {
    return std::find(profile.extended_key_usage.begin(), profile.extended_key_usage.end(), "serverAuth") !=
           profile.extended_key_usage.end();
  });
}

storage::StoreLocation store_location(const CaConfig& config) {
  return {config.database.backend, config.database.file, config.database.id};
}

std::vector<Role> roles_held(const RolesSection& roles, const std::string& identity, const std::string& owner) {
  if (!roles.configured) {
    if (identity == owner) return {Role::kAdministrator, Role::kOfficer, Role::kAuditor, Role::kOperator};
    return {};
  }
  auto found = roles.grants.find(identity);
  return found == roles.grants.end() ? std::vector<Role>{} : found->second;
}

std::string_view database_key_method_name(DatabaseKeyMethod method) {
  return method == DatabaseKeyMethod::kHmacSha256 ? "hmac-sha256" : "rsa-oaep";
}

std::optional<DatabaseKeyMethod> parse_database_key_method(std::string_view name) {
  if (name == "hmac-sha256") return DatabaseKeyMethod::kHmacSha256;
  if (name == "rsa-oaep") return DatabaseKeyMethod::kRsaOaep;
  return std::nullopt;
}

CaConfig load_config(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) {
    throw Error(path.string() + " does not exist: this directory holds no CA (see custos init, or give --dir)");
  }
  // custos.toml is a few kilobytes; a megabyte is surely not one.
  std::string text = read_text_file(path, 1024 * 1024);
  return parse_config(text, path.string());
}

CaConfig parse_config(std::string_view text, const std::string& origin) {
  try {
    return read_config(toml::parse(text, origin));
  } catch (const toml::parse_error& error) {
    throw Error(origin + " line " + std::to_string(error.source().begin.line) + ": " +
                std::string(error.description()));
  } catch (const Error&) {
    rethrow_with_context(origin);
  }
}

std::string render_new_config(const CaConfig& config) {
  std::ostringstream out;
  out << "# Custos CA configuration, written by `custos init` on " << now_rfc3339() << ".\n"
      << "# [ca], [token] and [database] describe keys on the token: change them only\n"
      << "# with the token in hand. Policy, profiles and exit modules are yours to edit.\n\n"
      << "[ca]\n"
      << "name = " << quoted(config.ca.name) << "\n"
      << "subject = " << quoted(config.ca.subject) << "\n"
      << "kind = " << quoted(config.ca.subordinate ? "subordinate" : "root") << "\n"
      << "key_type = " << quoted(std::string(hsm::key_type_name(config.ca.key_type))) << "\n"
      << "signature = " << quoted(std::string(hsm::signature_scheme_name(config.ca.signature))) << "\n"
      << "key_label = " << quoted(config.ca.key.label) << "\n"
      << "key_id = " << quoted(to_hex(config.ca.key.id)) << "\n\n"
      << "[token]\n"
      << "module = " << quoted(config.token.module.string()) << "\n"
      << "label = " << quoted(config.token.label) << "\n"
      << "serial = " << quoted(config.token.serial) << "\n"
      << "sessions = " << config.token.sessions << "\n\n"
      << "[database]\n"
      << "file = " << quoted(config.database.file.string()) << "\n"
      << "id = " << quoted(config.database.id) << "\n"
      << "key_method = " << quoted(std::string(database_key_method_name(config.database.key_method))) << "\n"
      << "key_label = " << quoted(config.database.key.label) << "\n"
      << "key_id = " << quoted(to_hex(config.database.key.id)) << "\n";
  if (config.database.key_method == DatabaseKeyMethod::kRsaOaep) {
    out << "wrapped_key = " << quoted(config.database.wrapped_key) << "\n"
        << "oaep_digest = " << quoted(std::string(hsm::oaep_digest_name(config.database.oaep_digest))) << "\n";
  }
  // The default policy, with the URLs init was given in place of its empty
  // lists.
  std::string policy = packaging::kDefaultPolicy;
  auto fill = [&](const std::string& key, const std::vector<std::string>& urls) {
    if (urls.empty()) return;
    std::string list;
    for (const std::string& url : urls) list += (list.empty() ? "" : ", ") + quoted(url);
    std::string empty = "\n" + key + " = []\n";
    if (std::size_t at = policy.find(empty); at != std::string::npos) {
      policy.replace(at, empty.size(), "\n" + key + " = [" + list + "]\n");
    }
  };
  fill("distribution_points", config.publication.crl_urls);
  fill("ocsp", config.publication.ocsp_urls);
  fill("ca_issuers", config.publication.ca_issuers_urls);
  out << "\n" << policy;
  return out.str();
}

nlohmann::json config_to_json(const CaConfig& config) {
  nlohmann::json profiles = nlohmann::json::object();
  for (const ProfileSection& profile : config.profiles) {
    nlohmann::json entry = {{"decision", profile.decision},
                            {"validity_days", profile.validity_days},
                            {"key_types", profile.key_types},
                            {"key_usage", profile.key_usage},
                            {"extended_key_usage", profile.extended_key_usage},
                            {"san_required", profile.san_required},
                            {"ca", profile.ca},
                            {"unauthenticated", profile.unauthenticated}};
    if (profile.path_length) entry["path_length"] = *profile.path_length;
    profiles[profile.name] = entry;
  }
  auto network_of = [](const ModuleSection& module) {
    return module.whole_network ? nlohmann::json(true) : nlohmann::json(module.destinations);
  };
  nlohmann::json exits = nlohmann::json::array();
  for (const ModuleSection& exit : config.exits) {
    exits.push_back({{"module", exit.module}, {"config", exit.config}, {"network", network_of(exit)}});
  }
  return {
      {"name", config.ca.name},
      {"subject", config.ca.subject},
      {"kind", config.ca.subordinate ? "subordinate" : "root"},
      {"key", {{"type", hsm::key_type_name(config.ca.key_type)},
               {"signature", hsm::signature_scheme_name(config.ca.signature)},
               {"label", config.ca.key.label}}},
      {"token", {{"module", config.token.module.string()}, {"label", config.token.label}}},
      {"database", {{"file", config.database.file.string()},
                    {"key_method", database_key_method_name(config.database.key_method)}}},
      {"policy",
       {{"module", config.policy.module}, {"timeout_ms", config.policy_timeout_ms}, {"network", network_of(config.policy)}}},
      {"profiles", profiles},
      {"exit", exits},
  };
}

}  // namespace custos::engine
