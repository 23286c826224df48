// The messages of module protocol version 1 (modules/sdk/PROTOCOL.md), as C++ values,
// with encoders and strict decoders. A decoder refuses a missing field, a
// field of the wrong type, and any field or message type it does not know:
// both sides reject what they do not understand.
//
//   write_frame(fd, encode(VerifyRequest{.resubmission = false, .request = snapshot}), deadline);
//   Verdict verdict = decode_verdict(read_frame(fd, deadline));   // throws ProtocolError
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace custos::protocol {

// A message that breaks the protocol; the message names the field.
class ProtocolError : public Error {
 public:
  CUSTOS_ERROR_TYPE(ProtocolError)
  using Error::Error;
};

struct SubjectAltName {
  std::string type;  // dns | ip | email | uri
  std::string value;
  bool operator==(const SubjectAltName&) const = default;
};

struct Extension {
  std::string oid;  // dotted
  bool critical = false;
  std::vector<std::uint8_t> der;  // the extension's value (extnValue contents); base64 on the wire
  bool operator==(const Extension&) const = default;
};

struct KeyInfo {
  std::string type;   // ec | rsa | ed25519
  std::string curve;  // P-256 | P-384, for ec
  std::int64_t bits = 0;  // for rsa
};

// The request's profile as the engine parsed it from custos.toml (one
// parse, one schema): what it decides, for how long, for which keys, and
// the certificate contents the engine forms from it.
struct ProfileSnapshot {
  std::string name;
  std::string decision;  // issue | pend | deny
  std::int64_t validity_days = 0;
  std::vector<std::string> key_types;
  bool san_required = false;
  std::vector<std::string> key_usage;
  std::vector<std::string> extended_key_usage;
  bool ca = false;
  std::optional<std::int64_t> path_length;
  bool operator==(const ProfileSnapshot&) const = default;
};

// R: the immutable snapshot of a request the engine shows a module.
struct RequestSnapshot {
  std::int64_t id = 0;
  std::vector<std::uint8_t> csr;  // DER; base64 on the wire
  std::string subject;            // RFC 4514
  std::vector<SubjectAltName> san;
  KeyInfo key;
  nlohmann::json attributes = nlohmann::json::object();  // string values; `profile` among them
  std::vector<Extension> requested_extensions;
  std::optional<ProfileSnapshot> profile;  // absent when custos.toml has no profile of that name
};

// C: the certificate properties a policy module wants.
struct CertificateProperties {
  std::optional<std::string> subject;
  std::optional<std::vector<SubjectAltName>> san;
  std::optional<std::int64_t> validity_days;
  std::vector<Extension> extensions_add;
  std::vector<std::string> extensions_remove;  // OIDs
};

enum class Role { kPolicy, kExit };
enum class Decision { kIssue, kDeny, kPend };

struct Hello {
  Role role = Role::kPolicy;
  nlohmann::json config = nlohmann::json::object();
  std::string ca;  // the name of the CA the module serves ([ca] name)
};

struct HelloAnswer {
  std::string name;
  std::vector<std::string> events;  // exit modules: the events they want
};

struct VerifyRequest {
  bool resubmission = false;
  RequestSnapshot request;
};

struct Verdict {
  Decision decision = Decision::kPend;
  std::string message;
  std::optional<CertificateProperties> certificate;
};

// notify: one exit event. `id` is stable across redeliveries, so a module
// that sees an id twice can ignore the second (delivery is at least once).
struct Notify {
  std::int64_t id = 0;
  std::string event;  // certificate_issued, request_pending, request_denied, certificate_revoked, crl_issued, …
  std::optional<RequestSnapshot> request;
  struct Certificate {
    std::string serial;
    std::vector<std::uint8_t> der;
  };
  std::optional<Certificate> certificate;
  struct Crl {
    std::int64_t number = 0;
    std::vector<std::uint8_t> der;
    // A CRL over kCrlPartBytes comes in parts, one notify each with the
    // same id: `der` is then the part at `offset` of a CRL of `size` bytes.
    // Unset for a CRL sent whole.
    std::optional<std::int64_t> size;
    std::int64_t offset = 0;
  };
  std::optional<Crl> crl;
};

// The notifies to send for `notify`: itself, or one per part of its CRL
// when the CRL is over kCrlPartBytes.
std::vector<Notify> notify_parts(const Notify& notify);

// Joins the parts of a CRL that came in several notifies (an exit module's
// side of notify_parts). add() returns the whole event once its last part
// has come, and nothing while parts are still to come; an event sent whole
// passes through. A part at offset 0 starts the event afresh, as the engine
// delivers an event again from its first part after a failure. Throws
// ProtocolError for a part that does not follow the one before.
class CrlParts {
 public:
  std::optional<Notify> add(Notify notify);

 private:
  std::optional<Notify> joining_;
};

std::string_view decision_name(Decision decision);
std::string_view role_name(Role role);

// The "type" of a message, after checking it is a string; the dispatcher
// uses it to choose the decoder.
std::string message_type(const nlohmann::json& message);

nlohmann::json encode(const Hello& hello);
nlohmann::json encode(const HelloAnswer& answer);
nlohmann::json encode(const VerifyRequest& request);
nlohmann::json encode(const Verdict& verdict);
nlohmann::json encode(const Notify& notify);
nlohmann::json encode_ack();
nlohmann::json encode_shutdown();

Hello decode_hello(const nlohmann::json& message);
HelloAnswer decode_hello_answer(const nlohmann::json& message, Role role);
VerifyRequest decode_verify_request(const nlohmann::json& message);
Verdict decode_verdict(const nlohmann::json& message);
Notify decode_notify(const nlohmann::json& message);
void decode_ack(const nlohmann::json& message);
void decode_shutdown(const nlohmann::json& message);

// The events an exit module may ask for in its hello.
const std::vector<std::string>& exit_events();

}  // namespace custos::protocol
