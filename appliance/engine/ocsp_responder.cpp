// The Engine's OCSP responder (engine.h, answer_ocsp) and its delegated
// signer: a key pair of its own on the token, and a certificate the CA
// issues to it through the usual path (stored, audited, a unique serial)
// with id-kp-OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2).
#include <fcntl.h>

#include <nlohmann/json.hpp>

#include "appliance/engine/engine.h"
#include "appliance/x509/name.h"
#include "appliance/x509/ocsp.h"
#include "appliance/x509/pem.h"
#include "appliance/x509/request.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/files.h"

namespace custos::engine {
namespace {

using storage::RequestState;

constexpr const char* kOcspNoCheckOid = "1.3.6.1.5.5.7.48.1.5";
constexpr const char* kActor = "custosd ocsp";

}  // namespace

const Engine::OcspSigner& Engine::ocsp_signer() {
  const CaConfig& config = ca_.config();
  if (!config.ocsp.delegated) {
    if (!ocsp_signer_) ocsp_signer_ = OcspSigner{config.ca.key, nullptr};
    return *ocsp_signer_;
  }
  std::filesystem::path directory = ca_.paths().directory / "ocsp";
  if (!ocsp_signer_ && std::filesystem::exists(directory / "signer.json")) {
    nlohmann::json recorded = nlohmann::json::parse(read_text_file(directory / "signer.json", 1 << 16));
    std::vector<ossl::Ptr<X509>> certificates =
        x509::read_pem_certificates(read_text_file(directory / "signer.pem", 1 << 20));
    ocsp_signer_ = OcspSigner{{recorded.at("key_label"), from_hex(recorded.at("key_id").get<std::string>())},
                              std::move(certificates.front())};
  }
  // Renewed with a third of its life left, so relying parties never see
  // a response from an expired signer.
  if (!ocsp_signer_ || !ocsp_signer_->certificate ||
      x509::due_for_renewal(ocsp_signer_->certificate.get(), std::time(nullptr))) {
    ocsp_signer_ = make_ocsp_signer();
  }
  return *ocsp_signer_;
}

Engine::OcspSigner Engine::make_ocsp_signer() {
  const CaConfig& config = ca_.config();
  hsm::Token& token = ca_.token();
  std::string label = config.ca.key.label + "-ocsp-" + to_hex(token.random_bytes(4));
  hsm::KeyRef key = token.generate_key_pair(config.ca.key_type, hsm::KeyPurpose::kSigning, label);
  try {
    // Named like its CA (organisation and all), the CN marking it the
    // responder.
    ossl::Ptr<X509_NAME> subject(X509_NAME_dup(X509_get_subject_name(ca_certificate_.get())));
    x509::set_common_name(subject.get(), config.ca.name + " OCSP Responder");
    ossl::Ptr<X509_REQ> request =
        x509::make_request(subject.get(), token.public_key_info(key), config.ca.signature,
                           [&](std::span<const std::uint8_t> tbs) { return token.sign(key, config.ca.signature, tbs); });
    x509::CheckedRequest checked = x509::check_request(ossl::to_der(request.get(), i2d_X509_REQ, "the OCSP signer's request"));

    storage::NewRequest stored;
    stored.csr = checked.der;
    stored.subject = checked.subject;
    stored.profile = "ocsp-signer";
    stored.attributes = {{"profile", "ocsp-signer"}};
    stored.requester = kActor;
    storage::RequestRecord record =
        ca_.store().add_request(stored, {kActor, "request_received", {{"profile", "ocsp-signer"}}});

    ProfileSection profile;
    profile.name = "ocsp-signer";
    profile.decision = "issue";
    profile.validity_days = config.ocsp.signer_validity_days;
    profile.key_usage = {"digitalSignature"};
    profile.extended_key_usage = {"OCSPSigning"};
    protocol::Verdict verdict{protocol::Decision::kIssue, "the OCSP responder's signing certificate", {}};
    verdict.certificate = protocol::CertificateProperties{};
    verdict.certificate->extensions_add.push_back({kOcspNoCheckOid, false, {0x05, 0x00}});
    Disposition issued = issue(Received{std::move(record), std::move(checked)}, verdict, profile, kActor);
    if (issued.state != RequestState::kIssued) throw Error("the OCSP signing certificate was not issued: " + issued.message);

    const unsigned char* cursor = issued.certificate.data();
    ossl::Ptr<X509> certificate(d2i_X509(nullptr, &cursor, static_cast<long>(issued.certificate.size())));
    std::filesystem::path directory = ca_.paths().directory / "ocsp";
    std::filesystem::create_directories(directory);
    write_file_atomic(directory / "signer.pem", x509::to_pem(certificate.get()));
    write_file_atomic(directory / "signer.json",
                      nlohmann::json{{"key_label", key.label}, {"key_id", to_hex(key.id)}, {"serial", *issued.serial}}
                          .dump(2),
                      0600);
    return OcspSigner{key, std::move(certificate)};
  } catch (...) {
    // The key serves nothing without its certificate.
    token.destroy_objects(key);
    throw;
  }
}

std::vector<std::uint8_t> Engine::answer_ocsp(std::span<const std::uint8_t> request_der, std::time_t& this_update,
                                              std::time_t& next_update) {
  std::time_t now = std::time(nullptr);
  this_update = now;
  next_update = now + static_cast<std::time_t>(ca_.config().ocsp.response_validity_minutes) * 60;
  x509::OcspRequest request;
  try {
    request = x509::parse_ocsp_request(request_der);
  } catch (const x509::MalformedOcspRequest&) {
    return x509::ocsp_error_response(x509::OcspResponseStatus::kMalformedRequest);
  }
  const OcspSigner& signer = ocsp_signer();
  x509::OcspResponseSpec spec;
  spec.responder = signer.certificate ? signer.certificate.get() : ca_certificate_.get();
  spec.scheme = ca_.config().ca.signature;
  if (signer.certificate) spec.certificates.push_back(signer.certificate.get());
  spec.produced_at = now;
  spec.this_update = now;
  spec.next_update = next_update;
  spec.tls = ca_.config().issues_tls_server_certificates();
  spec.nonce = request.nonce;
  for (const x509::OcspQuery& query : request.queries) {
    if (!x509::issued_by(query, ca_certificate_.get())) {
      return x509::ocsp_error_response(x509::OcspResponseStatus::kUnauthorized);
    }
    x509::OcspAnswer answer{&query, x509::OcspStatus::kUnknown, 0, x509::RevocationReason::kUnspecified};
    if (std::optional<storage::CertificateRecord> certificate = ca_.store().find_certificate(query.serial_hex)) {
      answer.status = x509::OcspStatus::kGood;
      if (certificate->revocation) {
        answer.status = x509::OcspStatus::kRevoked;
        answer.revoked_at = parse_rfc3339(certificate->revocation->revoked_at);
        answer.reason = x509::parse_revocation_reason(certificate->revocation->reason)
                            .value_or(x509::RevocationReason::kUnspecified);
      }
    }
    spec.answers.push_back(answer);
  }
  return x509::make_ocsp_response(spec, [&](std::span<const std::uint8_t> tbs) {
    return ca_.token().sign(signer.key, ca_.config().ca.signature, tbs);
  });
}

}  // namespace custos::engine
