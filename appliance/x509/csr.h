// PKCS#10 requests that Custos receives: the first step of the request flow,
// which decides whether the bytes a client sent are a request at all, and
// whether the request is one Custos will go on to certify, before the engine
// stores it.
//
//   try {
//     CheckedRequest request = check_request(submitted);  // PEM or DER
//     store_received(request.der, request.subject, request.san, request.key_type);
//   } catch (const RejectedRequest& rejection) {
//     store_denied(request_der(submitted), rejection.what());
//   }  // MalformedRequest: nothing to store, the client gets the message
//
// Pure functions of their input, safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/openssl.h"

namespace custos::x509 {

// Requests Custos accepts: PEM or DER, at most kMaxRequestBytes.
constexpr std::size_t kMaxRequestBytes = 64 * 1024;

struct SubjectAltName {
  std::string type;   // "dns", "ip", "email", "uri"
  std::string value;  // IP addresses in text form (IPv4 dotted, IPv6 as inet_ntop writes it)

  auto operator<=>(const SubjectAltName&) const = default;
};

// Reads a DER GeneralNames (the value of a subjectAltName extension) into
// the four kinds Custos accepts; throws RejectedRequest for any other
// kind or a value that is not DER.
std::vector<SubjectAltName> parse_subject_alt_name(std::span<const std::uint8_t> der);

struct RequestedExtension {
  std::string oid;                // dotted, e.g. "2.5.29.17"
  bool critical = false;
  std::vector<std::uint8_t> der;  // the extnValue contents: the DER of the extension's value
};

struct KeyDescription {
  std::string type;   // "ec", "rsa", "ed25519"
  std::string curve;  // "P-256" or "P-384" for ec, else empty
  int bits = 0;       // RSA modulus bits, else 0
};

struct CheckedRequest {
  std::vector<std::uint8_t> der;                         // the request, DER
  std::string subject;                                   // RFC 4514 text; empty only when `san` is not
  ossl::Ptr<X509_NAME> subject_name;                     // the subject exactly as the request signed it
  std::vector<SubjectAltName> san;                       // from the subjectAltName the request asks for
  KeyDescription key;
  std::string key_type;                                  // "ec-p256", "ec-p384", "rsa-<bits>", "ed25519"
  std::vector<std::uint8_t> public_key;                  // DER SubjectPublicKeyInfo
  ossl::Ptr<EVP_PKEY> public_key_object;                 // public_key's key, imported from its bytes
  std::vector<RequestedExtension> requested_extensions;  // the extensionRequest attribute, in order
};

// The input is not a certificate request (not PEM or DER of one, too large,
// not DER, bytes after it): there is nothing to store.
class MalformedRequest : public Error {
 public:
  CUSTOS_ERROR_TYPE(MalformedRequest)
  using Error::Error;
};

// A request that parsed but fails a check (its signature, its key, its
// extensions): the engine stores it as denied with this message as reason.
class RejectedRequest : public Error {
 public:
  CUSTOS_ERROR_TYPE(RejectedRequest)
  using Error::Error;
};

// The request's DER: PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST")
// is decoded, anything else is taken to be DER and returned unchanged for
// check_request to parse. The size cap is enforced first. Throws
// MalformedRequest with a one-line reason.
std::vector<std::uint8_t> request_der(std::span<const std::uint8_t> input);

// request_der, then the strict checks: DER that re-encodes to the same bytes,
// version 1, a self-signature that verifies under the request's own key
// (proof of possession), an RSA (2048 to 16384 bits, exponent 65537,
// parameters NULL or absent), EC P-256/P-384 (a named curve, a point on
// it) or Ed25519 (no parameters) key in whole bytes, at most 32 distinct
// requested extensions, a subjectAltName of DNS names, IP addresses, email
// addresses and URIs only, and a subject or a subjectAltName. Throws
// MalformedRequest or RejectedRequest with one line a person can act on.
CheckedRequest check_request(std::span<const std::uint8_t> input);

// Only whether `der` is one PKCS#10 request and nothing after it, read
// without building its key: what a front end checks before it hands the
// bytes to the engine, whose check_request does the rest. Throws
// MalformedRequest.
void check_request_syntax(std::span<const std::uint8_t> der);

}  // namespace custos::x509
