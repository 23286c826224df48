// What a built-in policy module is to the module host: it answers hello
// with its name (after checking its configuration) and verify_request with
// a verdict. It sees only the request snapshot the engine sent.
#pragma once

#include <memory>
#include <string_view>

#include "modules/protocol/messages.h"

namespace custos::policy {

class PolicyModule {
 public:
  virtual ~PolicyModule() = default;
  // Checks `config` (hello.config) and keeps it; throws protocol::ProtocolError
  // naming a key it does not know or a value it cannot use.
  virtual protocol::HelloAnswer hello(const protocol::Hello& hello) = 0;
  virtual protocol::Verdict verify(const protocol::VerifyRequest& request) = 0;
};

// The built-in module called `name` ("profiles"), or nullptr.
std::unique_ptr<PolicyModule> make_builtin_policy(std::string_view name);

}  // namespace custos::policy
