#include "appliance/server/tls_identity.h"

#include "common/address.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <spdlog/spdlog.h>

#include "appliance/x509/certificate.h"
#include "appliance/x509/name.h"
#include "appliance/x509/pem.h"
#include "common/files.h"

namespace custos::server {
namespace {

constexpr const char* kRequester = "custosd";

bool is_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return ::inet_pton(AF_INET, host.c_str(), buffer) == 1 || ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// "DNS:a,IP:1.2.3.4" for the names the certificate must carry.
std::string subject_alt_names(const engine::CaConfig& config, const std::string& listen_host) {
  std::vector<std::string> entries;
  auto add = [&](const std::string& host) {
    if (host.empty() || host == "0.0.0.0" || host == "::") return;
    std::string entry = (is_ip_address(host) ? "IP:" : "DNS:") + host;
    if (std::find(entries.begin(), entries.end(), entry) == entries.end()) entries.push_back(entry);
  };
  add(listen_host);
  for (const std::string& name : config.http.hostnames) add(name);
  if (entries.empty()) add("localhost");
  std::string text;
  for (const std::string& entry : entries) text += (text.empty() ? "" : ",") + entry;
  return text;
}

// Whether `certificate` still serves: names every host, and is not due for
// renewal.
bool still_serves(const X509* certificate, const std::string& names) {
  if (x509::due_for_renewal(certificate, std::time(nullptr))) return false;
  std::string wanted = names + ",";
  for (std::size_t start = 0, comma; (comma = wanted.find(',', start)) != std::string::npos; start = comma + 1) {
    std::string entry = wanted.substr(start, comma - start);
    std::string host = entry.substr(entry.find(':') + 1);
    bool found = entry.starts_with("IP:") ? X509_check_ip_asc(const_cast<X509*>(certificate), host.c_str(), 0) == 1
                                          : X509_check_host(const_cast<X509*>(certificate), host.c_str(), 0, 0,
                                                            nullptr) == 1;
    if (!found) return false;
  }
  return true;
}

std::vector<std::uint8_t> make_request(EVP_PKEY* key, const std::string& subject, const std::string& names) {
  ossl::Ptr<X509_REQ> request(X509_REQ_new());
  ossl::Ptr<X509_NAME> name = x509::parse_name(subject);
  ossl::Ptr<X509_EXTENSION> san(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, names.c_str()));
  STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
  bool built = request && san && extensions && sk_X509_EXTENSION_push(extensions, san.get()) > 0 &&
               X509_REQ_set_version(request.get(), X509_REQ_VERSION_1) == 1 &&
               X509_REQ_set_subject_name(request.get(), name.get()) == 1 &&
               X509_REQ_set_pubkey(request.get(), key) == 1 && X509_REQ_add_extensions(request.get(), extensions) == 1 &&
               X509_REQ_sign(request.get(), key, EVP_sha256()) > 0;
  sk_X509_EXTENSION_free(extensions);
  if (!built) throw Error("making the front end's certificate request: " + ossl::last_error());
  return ossl::to_der(request.get(), i2d_X509_REQ, "the front end's certificate request");
}

std::string private_key_pem(EVP_PKEY* key) {
  ossl::Ptr<BIO> memory(BIO_new(BIO_s_secmem()));
  if (!memory || PEM_write_bio_PrivateKey(memory.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw Error("writing the front end's key: " + ossl::last_error());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(memory.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

TlsIdentity ensure_tls_identity(engine::CertificateAuthority& ca, Api& api, const std::string& listen) {
  const engine::CaConfig& config = ca.config();
  if (!config.http.certificate.empty()) {
    auto resolve = [&](const std::filesystem::path& path) { return path.is_absolute() ? path : ca.paths().directory / path; };
    return {resolve(config.http.certificate), resolve(config.http.key)};
  }
  std::filesystem::path directory = ca.paths().directory / "http";
  TlsIdentity identity{directory / "tls.pem", directory / "tls.key"};
  std::string names = subject_alt_names(config, split_host_port(listen).first);
  if (std::filesystem::exists(identity.certificate) && std::filesystem::exists(identity.key)) {
    std::vector<ossl::Ptr<X509>> existing = x509::read_pem_certificates(read_text_file(identity.certificate, 1 << 20));
    if (still_serves(existing.front().get(), names)) return identity;
  }

  std::filesystem::create_directories(directory);
  std::filesystem::permissions(directory, std::filesystem::perms::owner_all);
  ossl::Ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw Error("making the front end's key: " + ossl::last_error());
  // BR 7.1.2.7.2: a CN, if any, is one of the SAN's values: the first.
  std::string first = names.substr(0, names.find(','));
  std::vector<std::uint8_t> request = make_request(key.get(), "CN=" + first.substr(first.find(':') + 1), names);

  engine::Disposition disposition;
  api.with_engine([&](engine::Engine& engine) {
    disposition = engine.submit(request, {{"profile", "server"}}, kRequester);
    // custosd is the CA's own service: a profile that pends is approved here.
    if (disposition.state == storage::RequestState::kPending) {
      disposition = engine.resubmit(disposition.request_id, kRequester);
    }
  });
  if (disposition.state != storage::RequestState::kIssued) {
    throw Error("the CA did not issue the front end's TLS certificate (request " +
                std::to_string(disposition.request_id) + ": " + disposition.message +
                "); give one in [http] certificate and key");
  }
  ossl::Ptr<X509> certificate = x509::parse_certificate(disposition.certificate, "the front end's TLS certificate");
  write_file_atomic(identity.key, private_key_pem(key.get()), 0600);
  write_file_atomic(identity.certificate, x509::to_pem(certificate.get()) + engine::read_ca_chain(ca.paths().directory),
                    0644);
  spdlog::info("issued the front end's TLS certificate, serial {}, for {}", *disposition.serial, names);
  return identity;
}

}  // namespace custos::server
