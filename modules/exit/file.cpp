#include "modules/exit/file.h"

#include <algorithm>
#include <cctype>

#include "common/encoding.h"
#include "common/error.h"
#include "common/files.h"

namespace custos::exit {
namespace {

// A file name from the CA's name: letters, digits, '-', '_' and '.', the
// rest as '_', so no name can climb out of the directory.
std::string safe_name(const std::string& name) {
  std::string safe;
  for (char c : name) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  if (safe.empty() || safe.front() == '.') safe = "ca" + safe;
  return safe;
}

}  // namespace

protocol::HelloAnswer FileExit::hello(const protocol::Hello& hello) {
  const nlohmann::json& config = hello.config;
  for (const auto& [key, value] : config.items()) {
    if (key != "dir") throw protocol::ProtocolError("builtin:file: unknown configuration key '" + key + "'");
  }
  if (!config.contains("dir") || !config.at("dir").is_string() ||
      !std::filesystem::path(config.at("dir").get<std::string>()).is_absolute()) {
    throw protocol::ProtocolError("builtin:file needs 'dir', an absolute path (the engine resolves it)");
  }
  directory_ = config.at("dir").get<std::string>();
  crl_name_ = safe_name(hello.ca) + ".crl";
  return {"file", {"certificate_issued", "crl_issued"}};
}

void FileExit::notify(const protocol::Notify& event) {
  if (event.event == "certificate_issued" && event.certificate) {
    const std::string& serial = event.certificate->serial;
    bool hex = !serial.empty() && serial.size() <= 40 &&
               std::all_of(serial.begin(), serial.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    if (!hex) throw Error("refusing a certificate whose serial is not hex: '" + serial + "'");
    write_file_atomic(directory_ / (serial + ".pem"), pem_armour("CERTIFICATE", event.certificate->der));
  } else if (event.event == "crl_issued" && event.crl) {
    write_file_atomic(directory_ / crl_name_, event.crl->der);
  }
}

}  // namespace custos::exit
