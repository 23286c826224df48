#include "modules/exit/exit_module.h"

#include "modules/exit/file.h"
#include "modules/exit/ldap.h"

namespace custos::exit {

std::unique_ptr<ExitModule> make_builtin_exit(std::string_view name) {
  if (name == "file") return std::make_unique<FileExit>();
  if (name == "ldap") return std::make_unique<LdapExit>();
  return nullptr;
}

}  // namespace custos::exit
