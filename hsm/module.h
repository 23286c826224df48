// A loaded PKCS#11 module (a library such as libsofthsm2.so): dlopen,
// C_GetFunctionList, C_Initialize for multi-threaded use, and C_Finalize
// when the last user lets go. A module is loaded once per process and
// shared, because C_Initialize may be called only once per library.
//
//   auto module = Module::load("/usr/lib/softhsm/libsofthsm2.so");
//   CK_SLOT_ID slot = module->find_token("custos");
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hsm/pkcs11.h"

namespace custos::hsm {

struct TokenDescription {
  CK_SLOT_ID slot = 0;
  std::string label;
  std::string library;       // the PKCS#11 library's manufacturer (C_GetInfo)
  std::string manufacturer;  // the token's (C_GetTokenInfo): for a TPM, its vendor
  std::string model;
  std::string serial;
  CK_FLAGS flags = 0;
  CK_ULONG max_sessions = 0;  // 0 means the token sets no limit
};

class Module {
 public:
  // Loads and initialises the module at `path`, or returns the one already
  // loaded from that path. Thread-safe.
  static std::shared_ptr<Module> load(const std::filesystem::path& path);

  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST* functions() const { return functions_; }
  const std::filesystem::path& path() const { return path_; }

  // Tokens present in the module's slots (empty slots are skipped).
  std::vector<TokenDescription> tokens() const;

  // The one token whose label is `label` and, when `serial` is given, whose
  // serial number is `serial`: a token that merely shares the label is not
  // the CA's, and gets no PIN. An error naming what is present otherwise.
  TokenDescription find_token(const std::string& label, const std::string& serial = "") const;

 private:
  Module(std::filesystem::path path, CK_FUNCTION_LIST* functions);

  std::filesystem::path path_;
  CK_FUNCTION_LIST* functions_;
};

}  // namespace custos::hsm
