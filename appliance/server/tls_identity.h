// The front end's own TLS identity. Unless the operator provides one
// ([http] certificate and key), custosd makes it at first start: a P-256
// key made in software — the one software private key ARCHITECTURE.md allows,
// the front end's own, never a CA key — and a certificate the CA issues
// to it under the `server` profile, for the listen address and [http]
// hostnames. It is made again when it is missing, no longer names those,
// or has less than a third of its life left.
#pragma once

#include <filesystem>

#include "appliance/server/api.h"

namespace custos::server {

struct TlsIdentity {
  std::filesystem::path certificate;  // PEM: the front end's certificate, then the CA chain
  std::filesystem::path key;          // PEM, mode 0600
};

// `listen` is the HTTPS HOST:PORT; its host goes into the certificate.
TlsIdentity ensure_tls_identity(engine::CertificateAuthority& ca, Api& api, const std::string& listen);

}  // namespace custos::server
