// OCSP (RFC 6960) for the responder: requests read strictly, and basic
// responses formed in software and signed by the token in the order crl.h
// follows: check the specification, build the ResponseData, hand exactly
// those bytes to the signer, assemble, re-parse, and verify the result under
// the responder's public key before anyone sees it.
//
//   OcspRequest request = parse_ocsp_request(body);  // MalformedOcspRequest: ocsp_error_response(kMalformedRequest)
//   OcspResponseSpec spec{ca, scheme, {}, now, now, now + 86400, {}, request.nonce};
//   for (const OcspQuery& query : request.queries) {
//     if (!issued_by(query, ca)) return ocsp_error_response(OcspResponseStatus::kUnauthorized);
//     spec.answers.push_back({&query, OcspStatus::kGood, 0, RevocationReason::kUnspecified});  // from the store
//   }
//   std::vector<std::uint8_t> der = make_ocsp_response(spec, [&](auto tbs) { return token.sign(key, scheme, tbs); });
//
// Pure functions of their inputs, safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "appliance/x509/certificate.h"
#include "appliance/x509/crl.h"
#include "common/error.h"
#include "common/openssl.h"
#include "common/algorithms.h"

namespace custos::x509 {

// Requests Custos answers: at most this many bytes, asking about at most
// this many certificates at once.
constexpr std::size_t kMaxOcspRequestBytes = 64 * 1024;
constexpr int kMaxOcspQueries = 16;

// The input is not an OCSP request Custos answers (not DER of one, too
// large, bytes after it, no or too many certificates, a bad nonce): the
// client gets a malformedRequest response.
class MalformedOcspRequest : public Error {
 public:
  CUSTOS_ERROR_TYPE(MalformedOcspRequest)
  using Error::Error;
};

// One certificate a request asks about.
struct OcspQuery {
  ossl::Ptr<OCSP_CERTID> certificate_id;  // as the client sent it; the answer repeats it
  std::string serial_hex;                 // upper-case hex, as serial_hex(const X509*) writes it
};

struct OcspRequest {
  std::vector<OcspQuery> queries;
  // The nonce extension's extnValue (the DER of an OCTET STRING), to be
  // echoed byte for byte as OCSP_copy_nonce would.
  std::optional<std::vector<std::uint8_t>> nonce;
};

// Reads a DER OCSPRequest: at most kMaxOcspRequestBytes, DER that encodes
// back to the same bytes with nothing after it, 1 to kMaxOcspQueries
// certificates, and at most one nonce, of 1 to 32 octets (RFC 8954 §2.1).
// A signature on the request is not checked: Custos answers anyone
// (RFC 6960 §4.1.2). Throws MalformedOcspRequest with a one-line reason.
OcspRequest parse_ocsp_request(std::span<const std::uint8_t> der);

// True when the query's CertID names `ca`: its issuerNameHash and
// issuerKeyHash are the hashes of the CA's subject and public key under the
// CertID's own hash algorithm (SHA-1, SHA-256, SHA-384 or SHA-512), as
// OCSP_id_issuer_cmp compares them. False for any other hash algorithm.
bool issued_by(const OcspQuery& query, const X509* ca);

enum class OcspStatus { kGood, kRevoked, kUnknown };

struct OcspAnswer {
  const OcspQuery* query = nullptr;
  OcspStatus status = OcspStatus::kUnknown;
  std::time_t revoked_at = 0;                                // kRevoked only
  RevocationReason reason = RevocationReason::kUnspecified;  // kRevoked only
};

struct OcspResponseSpec {
  // The certificate whose key signs: the CA itself, or a delegated OCSP
  // signing certificate (EKU id-kp-OCSPSigning) the CA issued.
  const X509* responder = nullptr;
  SignatureScheme scheme = SignatureScheme::kEcdsaSha256;
  std::vector<const X509*> certificates;  // the response's certs: a delegated responder's certificate, or none
  std::time_t produced_at = 0;
  std::time_t this_update = 0;  // for every answer
  std::time_t next_update = 0;  // for every answer
  std::vector<OcspAnswer> answers;  // in the order of the request's queries
  std::optional<std::vector<std::uint8_t>> nonce;  // OcspRequest::nonce, echoed in responseExtensions
  bool tls = false;  // the CA issues TLS server certificates: the linter applies BR 4.9.10
};

// Builds a successful OCSPResponse holding a BasicOCSPResponse: ResponderID
// byKey (SHA-1 of the responder's public key), producedAt, one
// SingleResponse per answer with the query's CertID, a revocationReason for
// a revoked certificate unless the reason is unspecified (as the CRL
// leaves it out), thisUpdate and nextUpdate, then the nonce when given and
// the certificates. Checks the spec first (a responder, at least one answer,
// nextUpdate after thisUpdate, reasons a CRL entry may carry, a responder
// that is the CA of every query or an OCSP signer with the issuer the query
// names), has `signer` sign the exact ResponseData bytes, assembles,
// re-parses the OCSPResponse, compares the ResponseData and verifies the
// signature under the responder's public key. Returns the DER; throws
// custos::Error naming what is wrong, without calling `signer` for a spec
// that fails the checks.
std::vector<std::uint8_t> make_ocsp_response(const OcspResponseSpec& spec, const Signer& signer);

// The OCSPResponseStatus values of an answer without a body (RFC 6960
// §4.2.1); successful always carries one, and sigRequired is never asked.
enum class OcspResponseStatus {
  kMalformedRequest = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
  kInternalError = OCSP_RESPONSE_STATUS_INTERNALERROR,
  kTryLater = OCSP_RESPONSE_STATUS_TRYLATER,
  kUnauthorized = OCSP_RESPONSE_STATUS_UNAUTHORIZED,
};

// The DER OCSPResponse of that status, without responseBytes.
std::vector<std::uint8_t> ocsp_error_response(OcspResponseStatus status);

}  // namespace custos::x509
