// builtin:profiles — the policy of the profiles in custos.toml (README). hello.config is
// {"profiles": {NAME: {decision, validity_days, key_types, key_usage,
// extended_key_usage, san_required, ca, path_length}}}, from custos.toml's
// [profiles.*] tables. The request's `profile` attribute picks the profile.
//
//   issue  the request's key type is allowed and, where required, it has a SAN
//   pend   the same checks, then an administrator decides; on an
//          administrator's resubmission the request is issued
//   deny   always
// The certificate's contents (key usage, EKU, CA) are formed by the engine
// from the same profile; this module decides and sets the validity.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "modules/policy/policy_module.h"

namespace custos::policy {

class ProfilesPolicy final : public PolicyModule {
 public:
  protocol::HelloAnswer hello(const nlohmann::json& config) override;
  protocol::Verdict verify(const protocol::VerifyRequest& request) override;

 private:
  struct Profile {
    std::string decision;
    std::int64_t validity_days = 0;
    std::vector<std::string> key_types;
    bool san_required = false;
  };
  std::map<std::string, Profile> profiles_;
};

// The key type name a profile lists for a request's key ("ec-p256",
// "rsa-3072", "ed25519").
std::string key_type_of(const protocol::KeyInfo& key);

}  // namespace custos::policy
