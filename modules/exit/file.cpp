#include "modules/exit/file.h"

#include <openssl/pem.h>

#include <algorithm>
#include <cctype>

#include "common/error.h"
#include "common/files.h"

namespace custos::exit {
namespace {

// The PEM armour of a DER certificate, through OpenSSL's generic writer.
std::string pem_of(const std::vector<std::uint8_t>& der) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr || PEM_write_bio(bio, "CERTIFICATE", "", der.data(), static_cast<long>(der.size())) <= 0) {
    BIO_free(bio);
    throw Error("writing the certificate as PEM failed");
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return text;
}

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
    write_file_atomic(directory_ / (serial + ".pem"), pem_of(event.certificate->der));
  } else if (event.event == "crl_issued" && event.crl) {
    write_file_atomic(directory_ / crl_name_, event.crl->der);
  }
}

}  // namespace custos::exit
