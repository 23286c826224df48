// What a built-in exit module is to the module host: it answers hello with
// its name and the events it wants (after checking its configuration), and
// each notify by publishing; the host acknowledges only after notify
// returned, so an event that failed is delivered again.
#pragma once

#include <memory>
#include <string_view>

#include "modules/protocol/messages.h"

namespace custos::exit {

class ExitModule {
 public:
  virtual ~ExitModule() = default;
  // Throws protocol::ProtocolError naming a configuration key it refuses.
  virtual protocol::HelloAnswer hello(const protocol::Hello& hello) = 0;
  // Throws custos::Error when the event could not be published.
  virtual void notify(const protocol::Notify& event) = 0;
};

// The built-in exit module called `name` ("file", "ldap"), or nullptr.
// Throws custos::Error when builtin:ldap's shared object cannot be loaded.
std::unique_ptr<ExitModule> make_builtin_exit(std::string_view name);

}  // namespace custos::exit
