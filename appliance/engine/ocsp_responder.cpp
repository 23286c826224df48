// The Engine's OCSP responder (engine.h, answer_ocsp), the status lane that
// answers without the engine's lock (status_responder.h), and the delegated
// signer: a key pair of its own on the token, and a certificate the CA
// issues to it through the usual path (stored, audited, a unique serial)
// with id-kp-OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2).
#include <fcntl.h>

#include <algorithm>
#include <functional>
#include <mutex>

#include <nlohmann/json.hpp>

#include "appliance/engine/engine.h"
#include "appliance/engine/status_responder.h"
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

const OcspSigner& Engine::ocsp_signer() {
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
  if (!ocsp_signer_ || !ocsp_signer_->certificate || ocsp_signer_->due_for_renewal(std::time(nullptr))) {
    ocsp_signer_ = make_ocsp_signer();
  }
  return *ocsp_signer_;
}

OcspSigner Engine::make_ocsp_signer() {
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
        store_.add_request(stored, {kActor, "request_received", {{"profile", "ocsp-signer"}}});

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

    ossl::Ptr<X509> certificate = x509::parse_certificate(issued.certificate, "the OCSP signing certificate");
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

OcspSigner OcspSigner::copy() const {
  OcspSigner copied{key, nullptr};
  if (certificate) {
    X509_up_ref(certificate.get());
    copied.certificate.reset(certificate.get());
  }
  return copied;
}

bool OcspSigner::due_for_renewal(std::time_t now) const {
  return certificate && x509::due_for_renewal(certificate.get(), now);
}

std::optional<OcspSigner> Engine::settled_ocsp_signer() const {
  if (!ca_.config().ocsp.delegated) return OcspSigner{ca_.config().ca.key, nullptr};
  if (!ocsp_signer_ || !ocsp_signer_->certificate || ocsp_signer_->due_for_renewal(std::time(nullptr))) {
    return std::nullopt;
  }
  return ocsp_signer_->copy();
}

namespace {

// The answer to a DER OCSPRequest, shared by the engine and the status
// lane. `signer` gives the key to sign with, or nullopt when there is none
// at hand (the lane's answer then comes from the engine); `lookup` finds a
// certificate by serial. `reusable`, when given, is set when the answer
// may be given again to the same bytes: a signed answer to a request
// without a nonce, about certificates this CA issued (an unknown serial
// may be issued a moment later).
std::optional<std::vector<std::uint8_t>> ocsp_answer(
    const CaConfig& config, X509* ca_certificate, hsm::Token& token,
    const std::function<const OcspSigner*()>& signer_at_hand,
    const std::function<std::vector<std::optional<storage::RevocationStatus>>(const x509::OcspRequest&)>& lookup,
    std::span<const std::uint8_t> request_der, std::time_t& this_update, std::time_t& next_update,
    bool* reusable = nullptr) {
  std::time_t now = std::time(nullptr);
  this_update = now;
  next_update = now + static_cast<std::time_t>(config.ocsp.response_validity_minutes) * 60;
  x509::OcspRequest request;
  try {
    request = x509::parse_ocsp_request(request_der);
  } catch (const x509::MalformedOcspRequest&) {
    return x509::ocsp_error_response(x509::OcspResponseStatus::kMalformedRequest);
  }
  for (const x509::OcspQuery& query : request.queries) {
    if (!x509::issued_by(query, ca_certificate)) return x509::ocsp_error_response(x509::OcspResponseStatus::kUnauthorized);
  }
  const OcspSigner* signer = signer_at_hand();
  if (signer == nullptr) return std::nullopt;
  x509::OcspResponseSpec spec;
  spec.responder = signer->certificate ? signer->certificate.get() : ca_certificate;
  spec.scheme = config.ca.signature;
  if (signer->certificate) spec.certificates.push_back(signer->certificate.get());
  spec.produced_at = now;
  spec.this_update = now;
  spec.next_update = next_update;
  spec.tls = config.issues_tls_server_certificates();
  spec.nonce = request.nonce;
  std::vector<std::optional<storage::RevocationStatus>> found = lookup(request);
  if (reusable != nullptr) {
    *reusable = !request.nonce && std::ranges::all_of(found, [](const auto& record) { return record.has_value(); });
  }
  for (std::size_t index = 0; index < request.queries.size(); ++index) {
    x509::OcspAnswer answer{&request.queries[index], x509::OcspStatus::kUnknown, 0, x509::RevocationReason::kUnspecified};
    if (const std::optional<storage::RevocationStatus>& status = found[index]) {
      answer.status = x509::OcspStatus::kGood;
      if (status->revocation) {
        answer.status = x509::OcspStatus::kRevoked;
        answer.revoked_at = parse_rfc3339(status->revocation->revoked_at);
        answer.reason = x509::parse_revocation_reason(status->revocation->reason)
                            .value_or(x509::RevocationReason::kUnspecified);
      }
    }
    spec.answers.push_back(answer);
  }
  return x509::make_ocsp_response(spec, [&](std::span<const std::uint8_t> tbs) {
    return token.sign(signer->key, config.ca.signature, tbs);
  });
}

std::vector<std::optional<storage::RevocationStatus>> find_each(storage::Store& store, const x509::OcspRequest& request) {
  std::vector<std::optional<storage::RevocationStatus>> found;
  for (const x509::OcspQuery& query : request.queries) found.push_back(store.find_revocation_status(query.serial_hex));
  return found;
}

}  // namespace

std::vector<std::uint8_t> Engine::answer_ocsp(std::span<const std::uint8_t> request_der, std::time_t& this_update,
                                              std::time_t& next_update) {
  return *ocsp_answer(
      ca_.config(), ca_certificate_.get(), ca_.token(), [this] { return &ocsp_signer(); },
      [this](const x509::OcspRequest& request) { return find_each(store_, request); }, request_der, this_update,
      next_update);
}

StatusResponder::StatusResponder(CertificateAuthority& ca, const Engine& engine)
    : token_(ca.token()),
      config_(ca.config()),
      ca_certificate_(X509_dup(const_cast<X509*>(engine.ca_certificate()))),
      signer_(engine.settled_ocsp_signer()),
      reader_(ca.open_another_connection(storage::StoreLocation::kFullPageCacheKiB)) {
  if (!ca_certificate_) throw Error("copying the CA certificate for the status lane failed");
}

std::optional<std::vector<std::uint8_t>> StatusResponder::answer_ocsp(std::span<const std::uint8_t> request,
                                                                      std::time_t& this_update,
                                                                      std::time_t& next_update,
                                                                      std::time_t& reuse_until) {
  reuse_until = 0;
  std::string key(request.begin(), request.end());
  std::time_t now = std::time(nullptr);
  {
    std::lock_guard lock(answers_mutex_);
    if (auto kept = answers_.find(key); kept != answers_.end()) {
      if (now < kept->second.reuse_until) {
        this_update = kept->second.this_update;
        next_update = kept->second.next_update;
        reuse_until = kept->second.reuse_until;
        return kept->second.response;
      }
      answers_bytes_ -= kept->first.size() + kept->second.response.size();
      answers_.erase(kept);
    }
  }
  bool reusable = false;
  std::optional<std::vector<std::uint8_t>> response = ocsp_answer(
      config_, ca_certificate_.get(), token_,
      // A delegated signer that falls due while the lane runs is the
      // engine's to renew, as the engine renews it (a third of its life left).
      [this]() -> const OcspSigner* {
        return signer_ && !signer_->due_for_renewal(std::time(nullptr)) ? &*signer_ : nullptr;
      },
      [this](const x509::OcspRequest& query) {
        std::lock_guard lock(reader_mutex_);
        return find_each(*reader_, query);
      },
      request, this_update, next_update, &reusable);
  if (response && reusable) {
    std::lock_guard lock(answers_mutex_);
    // Bounded: a lane that has kept this much for distinct requests starts
    // again empty rather than grow.
    if (answers_bytes_ + key.size() + response->size() > kMaxKeptAnswerBytes) {
      answers_.clear();
      answers_bytes_ = 0;
    }
    reuse_until = this_update + (next_update - this_update) / 2;
    // Two threads that missed the same request both signed; the first kept
    // answer stays, and the bytes are counted once.
    std::size_t bytes = key.size() + response->size();
    if (answers_.try_emplace(std::move(key), KeptAnswer{*response, this_update, next_update, reuse_until}).second) {
      answers_bytes_ += bytes;
    }
  }
  return response;
}

std::shared_ptr<const storage::CrlRecord> StatusResponder::crl(std::optional<std::int64_t> number) {
  std::lock_guard lock(reader_mutex_);
  const std::int64_t wanted = number ? *number : reader_->last_crl_number();
  if (!kept_crl_ || kept_crl_->number != wanted) {
    std::optional<storage::CrlRecord> read = reader_->find_crl(wanted);
    if (!read) return nullptr;
    kept_crl_ = std::make_shared<const storage::CrlRecord>(std::move(*read));
  }
  if (!number && parse_rfc3339(kept_crl_->next_update) <= std::time(nullptr)) return nullptr;
  return kept_crl_;
}

}  // namespace custos::engine
