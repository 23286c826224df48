// An example Custos policy module as a shared object, through the C ABI of
// custos_module_v1.h: it denies requests for subjects without an O=
// (organisation) and issues the rest. In custos.toml:
//
//   [policy]
//   module = "exec:/opt/custos/libsubject-guard.so"
//
// Check it without a CA:  custos module test /opt/custos/libsubject-guard.so
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "modules/sdk/custos_module_v1.h"

namespace {

int write_answer(const nlohmann::json& answer, char* buffer, size_t size) {
  std::string text = answer.dump();
  if (text.size() + 1 > size) return 1;
  std::memcpy(buffer, text.c_str(), text.size() + 1);
  return 0;
}

int hello(const char* role, const char* config, char* answer, size_t size) {
  if (std::string(role) != "policy" || !nlohmann::json::parse(config, nullptr, false).empty()) {
    std::snprintf(answer, size, "subject-guard is a policy module and takes no configuration");
    return 1;
  }
  return write_answer({{"type", "hello"}, {"protocol", 1}, {"name", "subject-guard"}}, answer, size);
}

int handle(const char* message, char* answer, size_t size) {
  nlohmann::json request = nlohmann::json::parse(message, nullptr, false);
  std::string subject = request["request"].value("subject", "");
  bool organisation = subject.find("O=") == 0 || subject.find(",O=") != std::string::npos;
  return write_answer({{"type", "verdict"},
                       {"decision", organisation ? "issue" : "deny"},
                       {"message", organisation ? "the subject names its organisation"
                                                : "the subject " + subject + " names no organisation (O=)"}},
                      answer, size);
}

const custos_module_v1 kModule = {CUSTOS_MODULE_ABI_VERSION, "subject-guard", hello, handle};

}  // namespace

extern "C" CUSTOS_MODULE_EXPORT const custos_module_v1* custos_module_v1_entry(void) { return &kModule; }
