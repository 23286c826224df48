#include "appliance/engine/authority.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <tuple>

#include "appliance/engine/database_key.h"
#include "appliance/x509/certificate.h"
#include "appliance/x509/name.h"
#include "appliance/x509/pem.h"
#include "appliance/x509/request.h"
#include "common/encoding.h"
#include "common/error.h"
#include "common/files.h"
#include "hsm/quirks.h"

namespace custos::engine {
namespace {

constexpr char kDefaultTokenLabel[] = "custos";
constexpr std::size_t kMaxCertificateFileBytes = 1 << 20;

// Processes working on one CA take turns at loading its token's module
// and finding the token (cheap for any token; SoftHSMv2 reads its token
// files there while another process may be rewriting them), and at logging
// in when the token's row in the quirks table asks for it
// (hsm/quirks.h serialise_login). Signing needs no turn.
class TokenTurn {
 public:
  explicit TokenTurn(const std::filesystem::path& lock_file) {
    if (lock_file.empty() || !std::filesystem::exists(lock_file.parent_path())) return;
    lock_ = FileDescriptor(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_) throw Error("cannot open " + lock_file.string() + ": " + std::strerror(errno));
    while (::flock(lock_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw Error("cannot lock " + lock_file.string() + ": " + std::strerror(errno));
    }
  }
  TokenTurn(const TokenTurn&) = delete;
  TokenTurn& operator=(const TokenTurn&) = delete;
  void end() { lock_.reset(); }

 private:
  FileDescriptor lock_;  // closing it releases the lock
};

std::unique_ptr<hsm::Token> open_token(const std::filesystem::path& module, const std::string& label,
                                       const std::string& serial, const hsm::PinSource& pin, std::size_t sessions,
                                       const std::filesystem::path& lock_file) {
  SecureBuffer secret = hsm::read_pin(pin);
  try {
    TokenTurn turn(lock_file);
    std::shared_ptr<hsm::Module> loaded = hsm::Module::load(module);
    if (!hsm::quirks_for(loaded->find_token(label, serial)).serialise_login) turn.end();
    return std::make_unique<hsm::Token>(std::move(loaded), label, std::move(secret), sessions, serial);
  } catch (const Error&) {
    rethrow_with_context("opening the token '" + label + "'");
  }
}

}  // namespace

std::unique_ptr<hsm::Token> open_token(const TokenOptions& options) {
  // A token being tried or a CA being made has no other users to take
  // turns with.
  return open_token(options.module.value_or(CUSTOS_DEFAULT_PKCS11_MODULE), options.label.value_or(kDefaultTokenLabel), "",
                    options.pin, hsm::Token::kDefaultSessions, {});
}

namespace {

// What a failed init must take back, in reverse order of making.
class InitRollback {
 public:
  InitRollback(hsm::Token& token, const std::filesystem::path& directory) : token_(token), directory_(directory) {}

  std::vector<hsm::KeyRef>& keys() { return keys_; }
  void made_file(const std::filesystem::path& path) { files_.push_back(path); }
  void made_directory() { made_directory_ = true; }

  // Undoes everything and returns what could not be undone, for the
  // message the user sees.
  std::string undo() {
    std::string problems;
    for (auto file = files_.rbegin(); file != files_.rend(); ++file) {
      std::error_code error;
      std::filesystem::remove(*file, error);
      if (error) problems += "; could not remove " + file->string() + ": " + error.message();
    }
    for (const hsm::KeyRef& key : keys_) {
      try {
        token_.destroy_objects(key);
      } catch (const Error& error) {
        problems += "; could not remove the key '" + key.label + "' from the token: " + error.what();
      }
    }
    if (made_directory_) {
      std::error_code error;
      std::filesystem::remove(directory_, error);  // only if empty: never a user's files
    }
    return problems;
  }

 private:
  hsm::Token& token_;
  std::filesystem::path directory_;
  std::vector<hsm::KeyRef> keys_;
  std::vector<std::filesystem::path> files_;
  bool made_directory_ = false;
};

std::string common_name_or(const X509_NAME* name, const std::string& fallback) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return fallback;
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  if (length < 0) return fallback;
  std::string text(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

void check_new_directory(const CaPaths& paths) {
  if (std::filesystem::exists(paths.config)) {
    throw Error(paths.directory.string() + " already holds a CA (" + paths.config.filename().string() +
                " exists); init changes nothing");
  }
  for (const char* leftover : {"custos.db", "ca.pem"}) {
    if (std::filesystem::exists(paths.directory / leftover)) {
      throw Error(paths.directory.string() + " already holds " + leftover + "; init changes nothing");
    }
  }
}

InitResult make_ca(const InitOptions& options, const CaPaths& paths, hsm::Token& token, InitRollback& rollback,
                   hsm::KeyType key_type, DatabaseKeyMethod method, const X509_NAME* subject) {
  const hsm::SignatureScheme scheme = hsm::choose_signature_scheme(key_type, token.mechanisms());
  std::string instance = to_hex(token.random_bytes(16));
  std::string suffix = instance.substr(0, 8);

  if (!std::filesystem::exists(paths.directory)) {
    std::filesystem::create_directories(paths.directory);
    std::filesystem::permissions(paths.directory, std::filesystem::perms::owner_all);
    rollback.made_directory();
  }
  // One init at a time in a directory: the second finds the marker and
  // leaves, changing nothing; the check is made again under it.
  std::filesystem::path marker = paths.directory / ".init-in-progress";
  FileDescriptor marker_file(::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!marker_file) {
    throw Error(errno == EEXIST ? "another custos init is running in " + paths.directory.string() +
                                      " (if none is, remove " + marker.string() + ")"
                                : "cannot create " + marker.string() + ": " + std::strerror(errno));
  }
  marker_file.reset();
  rollback.made_file(marker);
  check_new_directory(paths);

  CaConfig config;
  config.ca.name = common_name_or(subject, options.subject);
  config.ca.subject = x509::format_name(subject);
  config.ca.subordinate = options.subordinate;
  config.publication.crl_urls = options.crl_urls;
  config.publication.ocsp_urls = options.ocsp_urls;
  config.publication.ca_issuers_urls = options.ca_issuers_urls;
  check_publication_urls(config.publication);
  config.ca.key_type = key_type;
  config.ca.signature = scheme;
  config.ca.key = token.generate_key_pair(key_type, hsm::KeyPurpose::kSigning, "custos-ca-" + suffix);
  rollback.keys().push_back(config.ca.key);
  config.token.module = token.module().path();
  config.token.label = token.description().label;
  config.token.serial = token.description().serial;
  config.token.sessions = static_cast<std::int64_t>(hsm::Token::kDefaultSessions);

  std::vector<std::uint8_t> public_key = token.public_key_info(config.ca.key);
  x509::Signer signer = [&](std::span<const std::uint8_t> tbs) { return token.sign(config.ca.key, scheme, tbs); };

  ProvisionedKey database_key = provision_database_key(token, method, instance, "custos-db-" + suffix, rollback.keys());
  config.database = database_key.section;

  InitResult result;
  nlohmann::json detail = {{"subject", config.ca.subject},
                           {"kind", options.subordinate ? "subordinate" : "root"},
                           {"key_type", hsm::key_type_name(key_type)},
                           {"key_label", config.ca.key.label},
                           {"signature", hsm::signature_scheme_name(scheme)},
                           {"token", config.token.label},
                           {"database_key_method", database_key_method_name(method)}};
  if (options.subordinate) {
    ossl::Ptr<X509_REQ> request = x509::make_request(subject, public_key, scheme, signer);
    std::string pem = x509::to_pem(request.get());
    write_file_atomic(*options.csr_out, pem);
    rollback.made_file(*options.csr_out);
    result.output = *options.csr_out;
    result.fingerprint = to_hex(ossl::sha_digest(
        "SHA256", ossl::to_der(request.get(), i2d_X509_REQ, "the certificate request")));
    detail["request_sha256"] = result.fingerprint;
  } else {
    std::time_t now = std::time(nullptr);
    x509::CertificateSpec spec;
    spec.subject.reset(X509_NAME_dup(subject));
    spec.subject_public_key = public_key;
    spec.serial = random_serial(token);
    spec.not_before = now;
    spec.not_after = x509::validity_end(now, options.validity_days);
    spec.ca = true;
    spec.key_usage = x509::kDigitalSignature | x509::kKeyCertSign | x509::kCrlSign;
    x509::IssuerSpec issuer{subject, public_key, x509::key_identifier(public_key), scheme};
    ossl::Ptr<X509> certificate =
        x509::parse_certificate(x509::prepare_certificate(spec, issuer).sign(signer), "the new CA certificate");
    write_file_atomic(paths.certificate, x509::to_pem(certificate.get()));
    rollback.made_file(paths.certificate);
    result.output = paths.certificate;
    result.serial = x509::serial_hex(certificate.get());
    result.fingerprint = x509::sha256_fingerprint(certificate.get());
    detail["serial"] = result.serial;
    detail["certificate_sha256"] = result.fingerprint;
  }

  std::filesystem::path database = paths.directory / config.database.file;
  for (const char* suffix_name : {"", "-wal", "-shm"}) rollback.made_file(database.string() + suffix_name);
  {
    storage::StoreLocation location = store_location(config);
    location.path = database;
    std::unique_ptr<storage::Store> store = storage::create_store(location, database_key.key);
    store->append_audit({options.actor, "ca_created", detail});
  }

  // custos.toml last: its presence is what makes the directory a CA.
  write_file_atomic(paths.config, render_new_config(config), 0600);
  rollback.made_file(paths.config);
  result.config = load_config(paths.config);
  std::filesystem::remove(marker);
  return result;
}

}  // namespace

CaPaths::CaPaths(std::filesystem::path dir)
    : directory(std::move(dir)),
      config(directory / "custos.toml"),
      certificate(directory / "ca.pem"),
      chain(directory / "chain.pem"),
      token_lock(directory / ".token.lock") {}

std::string local_actor() { return "cli uid=" + std::to_string(::getuid()); }

std::vector<std::uint8_t> random_serial(hsm::Token& token) {
  std::vector<std::uint8_t> serial = token.random_bytes(16);
  serial[0] = static_cast<std::uint8_t>((serial[0] & 0x3f) | 0x40);
  return serial;
}

InitResult init_ca(const InitOptions& options) {
  CaPaths paths(options.directory);
  check_new_directory(paths);
  std::optional<hsm::KeyType> key_type = hsm::parse_key_type(options.key_type);
  if (!key_type) {
    throw Error("unknown key type '" + options.key_type + "' (known: " + hsm::key_type_names() + ")");
  }
  if (options.validity_days < 1) throw Error("--days must be at least 1");
  if (options.subordinate != options.csr_out.has_value()) {
    throw UsageError("--subordinate and --csr-out FILE go together");
  }
  if (options.csr_out && std::filesystem::exists(*options.csr_out)) {
    throw Error(options.csr_out->string() + " exists; init does not overwrite it");
  }
  ossl::Ptr<X509_NAME> subject;
  try {
    subject = x509::parse_name(options.subject);
  } catch (const Error&) {
    rethrow_with_context("the subject '" + options.subject + "'");
  }
  std::optional<DatabaseKeyMethod> forced_method;
  if (options.database_key_method) {
    forced_method = parse_database_key_method(*options.database_key_method);
    if (!forced_method) throw Error("--db-key-method must be hmac-sha256 or rsa-oaep");
  }

  std::unique_ptr<hsm::Token> token = open_token(options.token);
  // Everything the token must offer is checked before anything is made.
  hsm::require_key_generation(*key_type, token->mechanisms());
  hsm::choose_signature_scheme(*key_type, token->mechanisms());
  DatabaseKeyMethod method = choose_database_key_method(token->mechanisms());
  if (forced_method) method = *forced_method;

  InitRollback rollback(*token, paths.directory);
  try {
    return make_ca(options, paths, *token, rollback, *key_type, method, subject.get());
  } catch (const std::exception& error) {
    std::string problems = rollback.undo();
    throw Error(std::string(error.what()) + problems);
  }
}

std::string read_ca_chain(const std::filesystem::path& directory) {
  CaPaths paths(directory);
  CaConfig config = load_config(paths.config);
  if (!std::filesystem::exists(paths.certificate)) {
    throw Error(config.ca.subordinate
                    ? "the CA certificate is not installed yet: run custos install-ca-cert --cert FILE with the "
                      "certificate the parent CA signed"
                    : paths.certificate.string() + " is missing");
  }
  std::string chain = read_text_file(paths.certificate, kMaxCertificateFileBytes);
  if (std::filesystem::exists(paths.chain)) chain += read_text_file(paths.chain, kMaxCertificateFileBytes);
  return chain;
}

CertificateAuthority::~CertificateAuthority() {
  store_.reset();
  // Closing the last session logs out: a turn, like logging in.
  try {
    TokenTurn turn(paths_.token_lock);
    token_.reset();
  } catch (const Error&) {
    token_.reset();
  }
}

CertificateAuthority::CertificateAuthority(CaPaths paths, CaConfig config, std::unique_ptr<hsm::Token> token,
                                           std::unique_ptr<storage::Store> store)
    : paths_(std::move(paths)), config_(std::move(config)), token_(std::move(token)), store_(std::move(store)) {}

std::unique_ptr<CertificateAuthority> CertificateAuthority::open(const std::filesystem::path& directory,
                                                                 const TokenOptions& options) {
  return open(directory, options, load_config(CaPaths(directory).config));
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::open(const std::filesystem::path& directory,
                                                                 const TokenOptions& options, CaConfig config) {
  CaPaths paths(directory);
  std::unique_ptr<hsm::Token> token =
      open_token(options.module.value_or(config.token.module), options.label.value_or(config.token.label),
                 config.token.serial, options.pin, static_cast<std::size_t>(config.token.sessions), paths.token_lock);
  try {
    token->public_key_info(config.ca.key);
  } catch (const Error&) {
    rethrow_with_context("finding the CA key");
  }
  SecureBuffer key = derive_database_key(*token, config.database);
  std::unique_ptr<storage::Store> store;
  try {
    storage::StoreLocation location = store_location(config);
    location.path = directory / config.database.file;
    store = storage::open_store(location, key);
  } catch (const Error&) {
    rethrow_with_context("opening the database");
  }
  return std::unique_ptr<CertificateAuthority>(
      new CertificateAuthority(std::move(paths), std::move(config), std::move(token), std::move(store)));
}

void CertificateAuthority::reload_config() {
  CaConfig reloaded = load_config(paths_.config);
  auto keys_of = [](const CaConfig& config) {
    return std::tie(config.ca.subject, config.ca.key.label, config.ca.key.id, config.token.module, config.token.label,
                    config.database.file, config.database.id, config.database.key.label, config.database.key.id);
  };
  if (keys_of(reloaded) != keys_of(config_)) {
    throw Error(paths_.config.string() + ": [ca], [token] and [database] changed; they take effect only on restart");
  }
  config_ = std::move(reloaded);
}

std::unique_ptr<storage::Store> CertificateAuthority::open_another_connection(int page_cache_kib) {
  storage::StoreLocation location = store_location(config_);
  location.path = paths_.directory / config_.database.file;
  location.page_cache_kib = page_cache_kib;
  return storage::open_store(location, derive_database_key(*token_, config_.database));
}

ossl::Ptr<X509> CertificateAuthority::install_certificate(const std::string& pem, const std::string& actor) {
  if (!config_.ca.subordinate) {
    throw Error("this is a root CA, whose certificate was made at init; install-ca-cert is for subordinate CAs");
  }
  if (std::filesystem::exists(paths_.certificate)) {
    throw Error("the CA certificate is already installed (" + paths_.certificate.string() + ")");
  }
  std::vector<ossl::Ptr<X509>> certificates = x509::read_pem_certificates(pem);
  X509* certificate = certificates.front().get();

  ossl::Ptr<EVP_PKEY> token_key = x509::parse_public_key(token_->public_key_info(config_.ca.key));
  if (EVP_PKEY_eq(X509_get0_pubkey(certificate), token_key.get()) != 1) {
    throw Error("the certificate is for another key: its public key is not the CA key '" + config_.ca.key.label +
                "' on the token");
  }
  if (X509_check_ca(certificate) < 1) {
    throw Error("the certificate is not a CA certificate: it needs basicConstraints CA:TRUE and keyCertSign");
  }

  ossl::Ptr<X509_STORE> trusted(X509_STORE_new());
  ossl::Ptr<STACK_OF(X509)> untrusted(sk_X509_new_null());
  bool has_root = false;
  for (std::size_t i = 1; i < certificates.size(); ++i) {
    X509* candidate = certificates[i].get();
    if (X509_self_signed(candidate, 0) == 1) {
      X509_STORE_add_cert(trusted.get(), candidate);
      has_root = true;
    } else {
      sk_X509_push(untrusted.get(), candidate);
    }
  }
  if (!has_root) {
    throw Error("the file must hold, after the CA certificate, its issuers up to a self-signed root; the issuer '" +
                x509::format_name(X509_get_issuer_name(certificate)) + "' is not there");
  }
  ossl::Ptr<X509_STORE_CTX> context(X509_STORE_CTX_new());
  if (!context || X509_STORE_CTX_init(context.get(), trusted.get(), certificate, untrusted.get()) != 1) {
    throw Error("checking the chain: " + ossl::last_error());
  }
  if (X509_verify_cert(context.get()) != 1) {
    throw Error("the certificate does not chain to the root in the file: " +
                std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get()))));
  }
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(context.get());
  std::string chain_pem;
  for (int i = 1; i < sk_X509_num(chain); ++i) chain_pem += x509::to_pem(sk_X509_value(chain, i));

  write_file_atomic(paths_.chain, chain_pem);
  write_file_atomic(paths_.certificate, x509::to_pem(certificate));
  store_->append_audit({actor,
                        "ca_certificate_installed",
                        {{"subject", x509::format_name(X509_get_subject_name(certificate))},
                         {"issuer", x509::format_name(X509_get_issuer_name(certificate))},
                         {"serial", x509::serial_hex(certificate)},
                         {"certificate_sha256", x509::sha256_fingerprint(certificate)}}});
  return ossl::Ptr<X509>(X509_dup(certificate));
}

}  // namespace custos::engine
