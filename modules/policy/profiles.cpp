#include "modules/policy/profiles.h"

#include <algorithm>

namespace custos::policy {
namespace {

protocol::Verdict verdict(protocol::Decision decision, std::string message) {
  return {decision, std::move(message), std::nullopt};
}

}  // namespace

std::string key_type_of(const protocol::KeyInfo& key) {
  if (key.type == "ec") return key.curve == "P-384" ? "ec-p384" : key.curve == "P-256" ? "ec-p256" : "ec-" + key.curve;
  if (key.type == "rsa") return "rsa-" + std::to_string(key.bits);
  return key.type;
}

protocol::HelloAnswer ProfilesPolicy::hello(const protocol::Hello& hello) {
  // The profiles come with each request, as the engine parsed them
  // (request.profile); [policy] has nothing more for this module.
  for (const auto& [key, value] : hello.config.items()) {
    throw protocol::ProtocolError("builtin:profiles: unknown configuration key '" + key + "'");
  }
  return {"profiles", {}};
}

protocol::Verdict ProfilesPolicy::verify(const protocol::VerifyRequest& request) {
  const nlohmann::json& attributes = request.request.attributes;
  std::string name = attributes.contains("profile") ? attributes.at("profile").get<std::string>() : "server";
  if (!request.request.profile) return verdict(protocol::Decision::kDeny, "there is no profile '" + name + "'");
  const protocol::ProfileSnapshot& profile = *request.request.profile;

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
