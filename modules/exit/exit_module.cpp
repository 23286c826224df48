#include "modules/exit/exit_module.h"

#include <dlfcn.h>

#include <filesystem>
#include <string>

#include "common/error.h"
#include "modules/exit/file.h"
#include "modules/exit/ldap.h"

namespace custos::exit {
namespace {

// builtin:ldap from custos-exit-ldap.so beside this program (in the build
// tree as when installed). It is loaded here, before the sandbox, as the
// library would have been at start had it been linked in.
std::unique_ptr<ExitModule> load_ldap_exit() {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw Error("builtin:ldap: cannot tell where this program is (/proc/self/exe): " + error.message());
  std::filesystem::path library = self.parent_path() / "custos-exit-ldap.so";
  // Never closed: the module lives as long as the host.
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) throw Error(std::string("builtin:ldap: cannot load ") + ::dlerror());
  auto create = reinterpret_cast<decltype(&custos_exit_ldap_create)>(::dlsym(handle, "custos_exit_ldap_create"));
  if (create == nullptr) throw Error("builtin:ldap: " + library.string() + " has no custos_exit_ldap_create");
  std::unique_ptr<ExitModule> module(create());
  if (!module) throw Error("builtin:ldap: " + library.string() + " made no module");
  return module;
}

}  // namespace

std::unique_ptr<ExitModule> make_builtin_exit(std::string_view name) {
  if (name == "file") return std::make_unique<FileExit>();
  if (name == "ldap") return load_ldap_exit();
  return nullptr;
}

}  // namespace custos::exit
