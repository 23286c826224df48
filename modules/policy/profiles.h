// builtin:profiles — the policy of the profiles in custos.toml (README).
// hello.config is empty. Each request arrives with its profile as the
// engine parsed it from custos.toml (request.profile: decision,
// validity_days, key_types, san_required, …); the request's `profile`
// attribute named it.
//
//   issue  the request's key type is allowed and, where required, it has a SAN
//   pend   the same checks, then an administrator decides; on an
//          administrator's resubmission the request is issued
//   deny   always
// The certificate's contents (key usage, EKU, CA) are formed by the engine
// from the same profile; this module decides and sets the validity.
#pragma once

#include <string>
#include <vector>

#include "modules/policy/policy_module.h"

namespace custos::policy {

class ProfilesPolicy final : public PolicyModule {
 public:
  protocol::HelloAnswer hello(const protocol::Hello& hello) override;
  protocol::Verdict verify(const protocol::VerifyRequest& request) override;

};

// The key type name a profile lists for a request's key ("ec-p256",
// "rsa-3072", "ed25519").
std::string key_type_of(const protocol::KeyInfo& key);

}  // namespace custos::policy
