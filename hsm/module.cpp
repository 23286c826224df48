#include "hsm/module.h"

#include <dlfcn.h>

#include <map>
#include <mutex>

#include "hsm/error.h"

namespace custos::hsm {
namespace {

// PKCS#11 pads fixed-width text fields with spaces.
std::string trim_padded(const unsigned char* text, std::size_t width) {
  std::string value(reinterpret_cast<const char*>(text), width);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.pop_back();
  return value;
}

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<std::filesystem::path, std::weak_ptr<Module>>& registry() {
  static std::map<std::filesystem::path, std::weak_ptr<Module>> modules;
  return modules;
}

}  // namespace

std::shared_ptr<Module> Module::load(const std::filesystem::path& path) {
  std::error_code ignored;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ignored);
  if (canonical.empty()) canonical = path;

  std::lock_guard lock(registry_mutex());
  if (auto existing = registry()[canonical].lock()) return existing;

  if (!std::filesystem::exists(path)) {
    throw Error("PKCS#11 module " + path.string() + " does not exist");
  }
  void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    throw Error("loading PKCS#11 module " + path.string() + ": " + ::dlerror());
  }
  auto get_function_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(library, "C_GetFunctionList"));
  if (get_function_list == nullptr) {
    ::dlclose(library);
    throw Error(path.string() + " is not a PKCS#11 module: it has no C_GetFunctionList");
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_function_list(&functions);
  if (rv != CKR_OK || functions == nullptr) {
    ::dlclose(library);
    throw Pkcs11Error("C_GetFunctionList", rv);
  }

  // Several threads sign at once: ask the module to use the OS's locking.
  CK_C_INITIALIZE_ARGS arguments{};
  arguments.flags = CKF_OS_LOCKING_OK;
  rv = functions->C_Initialize(&arguments);
  if (rv != CKR_OK) {
    ::dlclose(library);
    throw Error("initialising PKCS#11 module " + path.string() + ": " + Pkcs11Error("C_Initialize", rv).what());
  }

  std::shared_ptr<Module> module(new Module(canonical, functions));
  registry()[canonical] = module;
  return module;
}

Module::Module(std::filesystem::path path, CK_FUNCTION_LIST* functions)
    : path_(std::move(path)), functions_(functions) {}

Module::~Module() {
  functions_->C_Finalize(nullptr);
  // The library stays mapped: some modules leave threads or atexit handlers
  // behind that would run in unmapped code after dlclose. C_Finalize has
  // released what the module holds for us.
}

std::vector<TokenDescription> Module::tokens() const {
  CK_ULONG count = 0;
  check(functions_->C_GetSlotList(CK_TRUE, nullptr, &count), "C_GetSlotList");
  std::vector<CK_SLOT_ID> slots(count);
  check(functions_->C_GetSlotList(CK_TRUE, slots.data(), &count), "C_GetSlotList");
  slots.resize(count);

  CK_INFO library{};
  check(functions_->C_GetInfo(&library), "C_GetInfo");
  std::string library_manufacturer = trim_padded(library.manufacturerID, sizeof library.manufacturerID);
  std::vector<TokenDescription> tokens;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    CK_RV rv = functions_->C_GetTokenInfo(slot, &info);
    // A slot whose token vanished or is unusable between the two calls is
    // not a candidate; skip it rather than fail the whole listing.
    if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED) continue;
    check(rv, "C_GetTokenInfo");
    TokenDescription token;
    token.slot = slot;
    token.library = library_manufacturer;
    token.label = trim_padded(info.label, sizeof info.label);
    token.manufacturer = trim_padded(info.manufacturerID, sizeof info.manufacturerID);
    token.model = trim_padded(info.model, sizeof info.model);
    token.serial = trim_padded(info.serialNumber, sizeof info.serialNumber);
    token.flags = info.flags;
    token.max_sessions = (info.ulMaxSessionCount == CK_UNAVAILABLE_INFORMATION ||
                          info.ulMaxSessionCount == CK_EFFECTIVELY_INFINITE)
                             ? 0
                             : info.ulMaxSessionCount;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    tokens.push_back(std::move(token));
  }
  return tokens;
}

TokenDescription Module::find_token(const std::string& label, const std::string& serial) const {
  std::vector<TokenDescription> present = tokens();
  std::vector<TokenDescription> matches;
  std::string names;
  std::string other_serials;
  for (const TokenDescription& token : present) {
    if (token.label == label && (serial.empty() || token.serial == serial)) matches.push_back(token);
    if (token.label == label && !serial.empty() && token.serial != serial) {
      other_serials += (other_serials.empty() ? "" : ", ") + token.serial;
    }
    names += (names.empty() ? "'" : ", '") + token.label + "'";
  }
  if (matches.empty() && !other_serials.empty()) {
    throw Error("the token labelled '" + label + "' has serial " + other_serials + ", not " + serial +
                ": it is not the CA's token");
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) {
    throw Error("no token labelled '" + label + "' in " + path_.string() +
                (names.empty() ? " (no initialised token present)" : " (tokens present: " + names + ")"));
  }
  throw Error("more than one token is labelled '" + label + "' in " + path_.string() +
              "; relabel one so the CA's token is unambiguous");
}

}  // namespace custos::hsm
