#include "modules/protocol/messages.h"

#include <algorithm>

#include "common/encoding.h"
#include "modules/protocol/frame.h"

namespace custos::protocol {
namespace {

const std::vector<std::string> kEvents = {"certificate_issued", "request_pending",     "request_denied",
                                          "request_retrieved",  "certificate_revoked", "crl_issued",
                                          "startup",            "shutdown"};
const std::vector<std::string> kSanTypes = {"dns", "ip", "email", "uri"};

// Reads one JSON object, refusing fields it was not told about.
class Fields {
 public:
  Fields(const nlohmann::json& object, std::string where, std::vector<std::string> required,
         std::vector<std::string> optional = {})
      : object_(object), where_(std::move(where)) {
    if (!object.is_object()) throw ProtocolError(where_ + " must be an object");
    for (const std::string& name : required) {
      if (!object.contains(name)) throw ProtocolError(where_ + " lacks the field '" + name + "'");
    }
    for (const auto& [name, value] : object.items()) {
      if (std::find(required.begin(), required.end(), name) == required.end() &&
          std::find(optional.begin(), optional.end(), name) == optional.end()) {
        throw ProtocolError(where_ + " has an unknown field '" + name + "'");
      }
    }
  }

  bool has(const std::string& name) const { return object_.contains(name); }
  const nlohmann::json& at(const std::string& name) const { return object_.at(name); }
  std::string path(const std::string& name) const { return where_ + "." + name; }

  std::string text(const std::string& name) const {
    if (!at(name).is_string()) throw ProtocolError(path(name) + " must be a string");
    return at(name).get<std::string>();
  }
  bool flag(const std::string& name) const {
    if (!at(name).is_boolean()) throw ProtocolError(path(name) + " must be true or false");
    return at(name).get<bool>();
  }
  std::int64_t integer(const std::string& name) const {
    if (!at(name).is_number_integer()) throw ProtocolError(path(name) + " must be an integer");
    return at(name).get<std::int64_t>();
  }
  std::vector<std::uint8_t> bytes(const std::string& name) const {
    try {
      return from_base64(text(name));
    } catch (const ProtocolError&) {
      throw;
    } catch (const Error&) {
      throw ProtocolError(path(name) + " must be base64");
    }
  }
  const nlohmann::json& array(const std::string& name) const {
    if (!at(name).is_array()) throw ProtocolError(path(name) + " must be an array");
    return at(name);
  }
  std::vector<std::string> texts(const std::string& name) const {
    std::vector<std::string> values;
    for (const nlohmann::json& value : array(name)) {
      if (!value.is_string()) throw ProtocolError(path(name) + " must hold strings");
      values.push_back(value.get<std::string>());
    }
    return values;
  }

 private:
  const nlohmann::json& object_;
  std::string where_;
};

void expect_type(const nlohmann::json& message, const std::string& type) {
  std::string found = message_type(message);
  if (found != type) throw ProtocolError("expected a '" + type + "' message, got '" + found + "'");
}

nlohmann::json encode_san(const std::vector<SubjectAltName>& names) {
  nlohmann::json array = nlohmann::json::array();
  for (const SubjectAltName& name : names) array.push_back({{"type", name.type}, {"value", name.value}});
  return array;
}

std::vector<SubjectAltName> decode_san(const nlohmann::json& array, const std::string& where) {
  if (!array.is_array()) throw ProtocolError(where + " must be an array");
  std::vector<SubjectAltName> names;
  for (const nlohmann::json& entry : array) {
    Fields fields(entry, where + "[]", {"type", "value"});
    SubjectAltName name{fields.text("type"), fields.text("value")};
    if (std::find(kSanTypes.begin(), kSanTypes.end(), name.type) == kSanTypes.end()) {
      throw ProtocolError(where + "[].type must be dns, ip, email or uri, not '" + name.type + "'");
    }
    names.push_back(std::move(name));
  }
  return names;
}

nlohmann::json encode_extensions(const std::vector<Extension>& extensions) {
  nlohmann::json array = nlohmann::json::array();
  for (const Extension& extension : extensions) {
    array.push_back({{"oid", extension.oid}, {"critical", extension.critical}, {"der", to_base64(extension.der)}});
  }
  return array;
}

// The one spelling of an OID (X.690 §8.19, ITU-T X.660): two or more arcs,
// the first 0, 1 or 2, the second below 40 under 0 and 1, and no arc with a
// leading zero. "2.5.29.019" is refused: OpenSSL would read it as
// basicConstraints, so a module could name an engine-owned extension in a
// spelling a text comparison misses. Written by hand because this folder
// does not link OpenSSL; the engine compares OIDs as objects besides.
bool is_canonical_oid(const std::string& text) {
  constexpr std::size_t kMaxLength = 256;
  constexpr std::size_t kMaxArcDigits = 39;  // room for 2.25.<UUID>
  if (text.empty() || text.size() > kMaxLength) return false;
  std::vector<std::string> arcs;
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = text.find('.', start);
    arcs.push_back(text.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (arcs.size() < 2) return false;
  for (const std::string& arc : arcs) {
    if (arc.empty() || arc.size() > kMaxArcDigits) return false;
    if (!std::all_of(arc.begin(), arc.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    if (arc.size() > 1 && arc.front() == '0') return false;
  }
  if (arcs[0].size() != 1 || arcs[0][0] > '2') return false;
  return arcs[0][0] == '2' || (arcs[1].size() <= 2 && std::stoi(arcs[1]) < 40);
}

std::vector<Extension> decode_extensions(const nlohmann::json& array, const std::string& where) {
  if (!array.is_array()) throw ProtocolError(where + " must be an array");
  std::vector<Extension> extensions;
  for (const nlohmann::json& entry : array) {
    Fields fields(entry, where + "[]", {"oid", "critical", "der"});
    Extension extension{fields.text("oid"), fields.flag("critical"), fields.bytes("der")};
    if (!is_canonical_oid(extension.oid)) {
      throw ProtocolError(where + "[].oid '" + extension.oid + "' is not an OID in canonical dotted form");
    }
    extensions.push_back(std::move(extension));
  }
  return extensions;
}

nlohmann::json encode_profile(const ProfileSnapshot& profile) {
  nlohmann::json object = {{"name", profile.name},
                           {"decision", profile.decision},
                           {"validity_days", profile.validity_days},
                           {"key_types", profile.key_types},
                           {"san_required", profile.san_required},
                           {"key_usage", profile.key_usage},
                           {"extended_key_usage", profile.extended_key_usage},
                           {"ca", profile.ca}};
  if (profile.path_length) object["path_length"] = *profile.path_length;
  return object;
}

ProfileSnapshot decode_profile(const nlohmann::json& object) {
  Fields fields(object, "request.profile",
                {"name", "decision", "validity_days", "key_types", "san_required", "key_usage", "extended_key_usage", "ca"},
                {"path_length"});
  ProfileSnapshot profile;
  profile.name = fields.text("name");
  profile.decision = fields.text("decision");
  if (profile.decision != "issue" && profile.decision != "pend" && profile.decision != "deny") {
    throw ProtocolError("request.profile.decision must be issue, pend or deny");
  }
  profile.validity_days = fields.integer("validity_days");
  if (profile.validity_days < 1) throw ProtocolError("request.profile.validity_days must be positive");
  profile.key_types = fields.texts("key_types");
  profile.san_required = fields.flag("san_required");
  profile.key_usage = fields.texts("key_usage");
  profile.extended_key_usage = fields.texts("extended_key_usage");
  profile.ca = fields.flag("ca");
  if (fields.has("path_length")) profile.path_length = fields.integer("path_length");
  return profile;
}

nlohmann::json encode_request(const RequestSnapshot& request) {
  nlohmann::json key = {{"type", request.key.type}};
  if (request.key.type == "ec") key["curve"] = request.key.curve;
  if (request.key.type == "rsa") key["bits"] = request.key.bits;
  nlohmann::json object = {{"id", request.id},
                           {"csr", to_base64(request.csr)},
                           {"subject", request.subject},
                           {"san", encode_san(request.san)},
                           {"key", key},
                           {"attributes", request.attributes},
                           {"requested_extensions", encode_extensions(request.requested_extensions)}};
  if (request.profile) object["profile"] = encode_profile(*request.profile);
  return object;
}

RequestSnapshot decode_request(const nlohmann::json& object) {
  Fields fields(object, "request", {"id", "csr", "subject", "san", "key", "attributes", "requested_extensions"},
                {"profile"});
  RequestSnapshot request;
  request.id = fields.integer("id");
  request.csr = fields.bytes("csr");
  request.subject = fields.text("subject");
  request.san = decode_san(fields.at("san"), "request.san");
  const nlohmann::json& key = fields.at("key");
  Fields key_fields(key, "request.key", {"type"}, {"curve", "bits"});
  request.key.type = key_fields.text("type");
  if (request.key.type == "ec") {
    request.key.curve = Fields(key, "request.key", {"type", "curve"}).text("curve");
  } else if (request.key.type == "rsa") {
    request.key.bits = Fields(key, "request.key", {"type", "bits"}).integer("bits");
  } else if (request.key.type == "ed25519") {
    Fields(key, "request.key", {"type"});
  } else {
    throw ProtocolError("request.key.type must be ec, rsa or ed25519");
  }
  request.attributes = fields.at("attributes");
  if (!request.attributes.is_object()) throw ProtocolError("request.attributes must be an object");
  for (const auto& [name, value] : request.attributes.items()) {
    if (!value.is_string()) throw ProtocolError("request.attributes." + name + " must be a string");
  }
  request.requested_extensions = decode_extensions(fields.at("requested_extensions"), "request.requested_extensions");
  if (fields.has("profile")) request.profile = decode_profile(fields.at("profile"));
  return request;
}

}  // namespace

std::string_view decision_name(Decision decision) {
  switch (decision) {
    case Decision::kIssue:
      return "issue";
    case Decision::kDeny:
      return "deny";
    case Decision::kPend:
      return "pend";
  }
  return "pend";
}

std::string_view role_name(Role role) { return role == Role::kPolicy ? "policy" : "exit"; }

std::string message_type(const nlohmann::json& message) {
  if (!message.is_object() || !message.contains("type") || !message.at("type").is_string()) {
    throw ProtocolError("a message must be an object with a string 'type'");
  }
  return message.at("type").get<std::string>();
}

nlohmann::json encode(const Hello& hello) {
  return {{"type", "hello"},
          {"protocol", kProtocolVersion},
          {"role", role_name(hello.role)},
          {"config", hello.config},
          {"ca", hello.ca}};
}

nlohmann::json encode(const HelloAnswer& answer) {
  nlohmann::json message = {{"type", "hello"}, {"protocol", kProtocolVersion}, {"name", answer.name}};
  if (!answer.events.empty()) message["events"] = answer.events;
  return message;
}

nlohmann::json encode(const VerifyRequest& request) {
  return {{"type", "verify_request"}, {"resubmission", request.resubmission}, {"request", encode_request(request.request)}};
}

nlohmann::json encode(const Verdict& verdict) {
  nlohmann::json message = {{"type", "verdict"}, {"decision", decision_name(verdict.decision)}, {"message", verdict.message}};
  if (verdict.certificate) {
    const CertificateProperties& properties = *verdict.certificate;
    nlohmann::json certificate = nlohmann::json::object();
    if (properties.subject) certificate["subject"] = *properties.subject;
    if (properties.san) certificate["san"] = encode_san(*properties.san);
    if (properties.validity_days) certificate["validity_days"] = *properties.validity_days;
    if (!properties.extensions_add.empty()) certificate["extensions_add"] = encode_extensions(properties.extensions_add);
    if (!properties.extensions_remove.empty()) certificate["extensions_remove"] = properties.extensions_remove;
    message["certificate"] = certificate;
  }
  return message;
}

nlohmann::json encode(const Notify& notify) {
  nlohmann::json message = {{"type", "notify"}, {"id", notify.id}, {"event", notify.event}};
  if (notify.request) message["request"] = encode_request(*notify.request);
  if (notify.certificate) {
    message["certificate"] = {{"serial", notify.certificate->serial}, {"der", to_base64(notify.certificate->der)}};
  }
  if (notify.crl) {
    message["crl"] = {{"number", notify.crl->number}, {"der", to_base64(notify.crl->der)}};
    if (notify.crl->size) {
      message["crl"]["offset"] = notify.crl->offset;
      message["crl"]["size"] = *notify.crl->size;
    }
  }
  return message;
}

nlohmann::json encode_ack() { return {{"type", "ack"}}; }

nlohmann::json encode_shutdown() { return {{"type", "shutdown"}}; }

Hello decode_hello(const nlohmann::json& message) {
  expect_type(message, "hello");
  Fields fields(message, "hello", {"type", "protocol", "role", "config", "ca"});
  if (fields.integer("protocol") != kProtocolVersion) throw ProtocolError("hello.protocol must be 1");
  std::string role = fields.text("role");
  if (role != "policy" && role != "exit") throw ProtocolError("hello.role must be policy or exit");
  if (!fields.at("config").is_object()) throw ProtocolError("hello.config must be an object");
  return {role == "policy" ? Role::kPolicy : Role::kExit, fields.at("config"), fields.text("ca")};
}

HelloAnswer decode_hello_answer(const nlohmann::json& message, Role role) {
  expect_type(message, "hello");
  std::vector<std::string> optional;
  if (role == Role::kExit) optional.push_back("events");
  Fields fields(message, "hello", {"type", "protocol", "name"}, optional);
  if (fields.integer("protocol") != kProtocolVersion) {
    throw ProtocolError("the module speaks protocol " + fields.at("protocol").dump() + ", not 1");
  }
  HelloAnswer answer{fields.text("name"), {}};
  if (fields.has("events")) {
    answer.events = fields.texts("events");
    for (const std::string& event : answer.events) {
      if (std::find(kEvents.begin(), kEvents.end(), event) == kEvents.end()) {
        throw ProtocolError("hello.events names an unknown event '" + event + "'");
      }
    }
  }
  return answer;
}

VerifyRequest decode_verify_request(const nlohmann::json& message) {
  expect_type(message, "verify_request");
  Fields fields(message, "verify_request", {"type", "resubmission", "request"});
  return {fields.flag("resubmission"), decode_request(fields.at("request"))};
}

Verdict decode_verdict(const nlohmann::json& message) {
  expect_type(message, "verdict");
  Fields fields(message, "verdict", {"type", "decision", "message"}, {"certificate"});
  Verdict verdict;
  std::string decision = fields.text("decision");
  if (decision == "issue") {
    verdict.decision = Decision::kIssue;
  } else if (decision == "deny") {
    verdict.decision = Decision::kDeny;
  } else if (decision == "pend") {
    verdict.decision = Decision::kPend;
  } else {
    throw ProtocolError("verdict.decision must be issue, deny or pend, not '" + decision + "'");
  }
  verdict.message = fields.text("message");
  if (fields.has("certificate")) {
    Fields certificate(fields.at("certificate"), "verdict.certificate", {},
                       {"subject", "san", "validity_days", "extensions_add", "extensions_remove"});
    CertificateProperties properties;
    if (certificate.has("subject")) properties.subject = certificate.text("subject");
    if (certificate.has("san")) properties.san = decode_san(certificate.at("san"), "verdict.certificate.san");
    if (certificate.has("validity_days")) {
      properties.validity_days = certificate.integer("validity_days");
      if (*properties.validity_days < 1) throw ProtocolError("verdict.certificate.validity_days must be positive");
    }
    if (certificate.has("extensions_add")) {
      properties.extensions_add = decode_extensions(certificate.at("extensions_add"), "verdict.certificate.extensions_add");
    }
    if (certificate.has("extensions_remove")) {
      properties.extensions_remove = certificate.texts("extensions_remove");
      for (const std::string& oid : properties.extensions_remove) {
        if (!is_canonical_oid(oid)) {
          throw ProtocolError("verdict.certificate.extensions_remove: '" + oid + "' is not an OID in canonical dotted form");
        }
      }
    }
    verdict.certificate = std::move(properties);
  }
  return verdict;
}

Notify decode_notify(const nlohmann::json& message) {
  expect_type(message, "notify");
  Fields fields(message, "notify", {"type", "id", "event"}, {"request", "certificate", "crl"});
  Notify notify;
  notify.id = fields.integer("id");
  notify.event = fields.text("event");
  if (std::find(kEvents.begin(), kEvents.end(), notify.event) == kEvents.end()) {
    throw ProtocolError("notify.event '" + notify.event + "' is not an event");
  }
  if (fields.has("request")) notify.request = decode_request(fields.at("request"));
  if (fields.has("certificate")) {
    Fields certificate(fields.at("certificate"), "notify.certificate", {"serial", "der"});
    notify.certificate = Notify::Certificate{certificate.text("serial"), certificate.bytes("der")};
  }
  if (fields.has("crl")) {
    Fields crl(fields.at("crl"), "notify.crl", {"number", "der"}, {"offset", "size"});
    notify.crl = Notify::Crl{crl.integer("number"), crl.bytes("der"), std::nullopt, 0};
    if (crl.has("offset") != crl.has("size")) throw ProtocolError("notify.crl has one of offset and size without the other");
    if (crl.has("size")) {
      notify.crl->offset = crl.integer("offset");
      notify.crl->size = crl.integer("size");
      if (notify.crl->offset < 0 || *notify.crl->size <= 0 ||
          notify.crl->offset + static_cast<std::int64_t>(notify.crl->der.size()) > *notify.crl->size) {
        throw ProtocolError("notify.crl's part at offset " + std::to_string(notify.crl->offset) + " does not fit a CRL of " +
                            std::to_string(*notify.crl->size) + " bytes");
      }
    }
  }
  return notify;
}

void decode_ack(const nlohmann::json& message) {
  expect_type(message, "ack");
  Fields(message, "ack", {"type"});
}

const std::vector<std::string>& exit_events() { return kEvents; }

std::vector<Notify> notify_parts(const Notify& notify) {
  if (!notify.crl || notify.crl->der.size() <= kCrlPartBytes) return {notify};
  const std::vector<std::uint8_t>& der = notify.crl->der;
  std::vector<Notify> parts;
  for (std::size_t offset = 0; offset < der.size(); offset += kCrlPartBytes) {
    Notify part{notify.id, notify.event, notify.request, notify.certificate, std::nullopt};
    auto first = der.begin() + static_cast<std::ptrdiff_t>(offset);
    part.crl = Notify::Crl{notify.crl->number,
                           {first, first + static_cast<std::ptrdiff_t>(std::min(kCrlPartBytes, der.size() - offset))},
                           static_cast<std::int64_t>(der.size()), static_cast<std::int64_t>(offset)};
    parts.push_back(std::move(part));
  }
  return parts;
}

std::optional<Notify> CrlParts::add(Notify notify) {
  if (!notify.crl || !notify.crl->size) {
    joining_.reset();
    return notify;
  }
  Notify::Crl& part = *notify.crl;
  if (part.offset == 0) {
    joining_ = std::move(notify);
  } else {
    if (!joining_ || joining_->id != notify.id || joining_->crl->number != part.number ||
        joining_->crl->size != part.size || static_cast<std::int64_t>(joining_->crl->der.size()) != part.offset) {
      throw ProtocolError("notify " + std::to_string(notify.id) + ": the CRL part at offset " +
                          std::to_string(part.offset) + " does not follow the part before it");
    }
    joining_->crl->der.insert(joining_->crl->der.end(), part.der.begin(), part.der.end());
  }
  if (static_cast<std::int64_t>(joining_->crl->der.size()) < *joining_->crl->size) return std::nullopt;
  Notify whole = std::move(*joining_);
  joining_.reset();
  whole.crl->size.reset();
  return whole;
}

void decode_shutdown(const nlohmann::json& message) {
  expect_type(message, "shutdown");
  Fields(message, "shutdown", {"type"});
}

}  // namespace custos::protocol
