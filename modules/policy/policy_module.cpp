#include "modules/policy/policy_module.h"

#include "modules/policy/profiles.h"

namespace custos::policy {

std::unique_ptr<PolicyModule> make_builtin_policy(std::string_view name) {
  if (name == "profiles") return std::make_unique<ProfilesPolicy>();
  return nullptr;
}

}  // namespace custos::policy
