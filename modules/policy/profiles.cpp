#include "modules/policy/profiles.h"

#include <algorithm>

namespace custos::policy {
namespace {

// "unauthenticated" is custosd's to enforce before policy is asked; the
// module only accepts it.
const std::vector<std::string> kProfileKeys = {"decision",     "validity_days", "key_types",   "key_usage",
                                               "extended_key_usage", "san_required", "ca", "path_length",
                                               "unauthenticated"};

protocol::Verdict verdict(protocol::Decision decision, std::string message) {
  return {decision, std::move(message), std::nullopt};
}

}  // namespace

std::string key_type_of(const protocol::KeyInfo& key) {
  if (key.type == "ec") return key.curve == "P-384" ? "ec-p384" : key.curve == "P-256" ? "ec-p256" : "ec-" + key.curve;
  if (key.type == "rsa") return "rsa-" + std::to_string(key.bits);
  return key.type;
}

protocol::HelloAnswer ProfilesPolicy::hello(const nlohmann::json& config) {
  for (const auto& [key, value] : config.items()) {
    if (key != "profiles") throw protocol::ProtocolError("builtin:profiles: unknown configuration key '" + key + "'");
  }
  if (!config.contains("profiles") || !config.at("profiles").is_object()) {
    throw protocol::ProtocolError("builtin:profiles needs the [profiles.*] tables");
  }
  for (const auto& [name, table] : config.at("profiles").items()) {
    if (!table.is_object()) throw protocol::ProtocolError("profiles." + name + " must be a table");
    for (const auto& [key, value] : table.items()) {
      if (std::find(kProfileKeys.begin(), kProfileKeys.end(), key) == kProfileKeys.end()) {
        throw protocol::ProtocolError("builtin:profiles: unknown key 'profiles." + name + "." + key + "'");
      }
    }
    Profile profile;
    profile.decision = table.value("decision", "");
    if (profile.decision != "issue" && profile.decision != "pend" && profile.decision != "deny") {
      throw protocol::ProtocolError("profiles." + name + ".decision must be issue, pend or deny");
    }
    profile.validity_days = table.value("validity_days", std::int64_t{0});
    if (profile.validity_days < 1) throw protocol::ProtocolError("profiles." + name + ".validity_days must be positive");
    profile.key_types = table.value("key_types", std::vector<std::string>{});
    profile.san_required = table.value("san_required", false);
    profiles_[name] = std::move(profile);
  }
  return {"profiles", {}};
}

protocol::Verdict ProfilesPolicy::verify(const protocol::VerifyRequest& request) {
  const nlohmann::json& attributes = request.request.attributes;
  std::string name = attributes.contains("profile") ? attributes.at("profile").get<std::string>() : "server";
  auto found = profiles_.find(name);
  if (found == profiles_.end()) return verdict(protocol::Decision::kDeny, "there is no profile '" + name + "'");
  const Profile& profile = found->second;

  std::string key_type = key_type_of(request.request.key);
  if (std::find(profile.key_types.begin(), profile.key_types.end(), key_type) == profile.key_types.end()) {
    return verdict(protocol::Decision::kDeny, "profile '" + name + "' does not accept " + key_type + " keys");
  }
  if (profile.san_required && request.request.san.empty()) {
    return verdict(protocol::Decision::kDeny, "profile '" + name + "' requires a subjectAltName in the request");
  }
  if (profile.decision == "deny") return verdict(protocol::Decision::kDeny, "profile '" + name + "' issues nothing");
  if (profile.decision == "pend" && !request.resubmission) {
    return verdict(protocol::Decision::kPend, "profile '" + name + "' needs an administrator's approval");
  }
  protocol::Verdict issue = verdict(protocol::Decision::kIssue, request.resubmission
                                                                     ? "approved by an administrator"
                                                                     : "issued under profile '" + name + "'");
  issue.certificate = protocol::CertificateProperties{};
  issue.certificate->validity_days = profile.validity_days;
  return issue;
}

}  // namespace custos::policy
