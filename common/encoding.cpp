#include "common/encoding.h"

#include <sodium.h>

#include "common/error.h"

namespace custos {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
  hex.pop_back();
  return hex;
}

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> bytes(hex.size() / 2 + 1);
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(bytes.data(), bytes.size(), hex.data(), hex.size(), nullptr, &length, &end) != 0 ||
      end != hex.data() + hex.size() || hex.size() % 2 != 0) {
    throw Error("'" + std::string(hex) + "' is not an even-length hex string");
  }
  bytes.resize(length);
  return bytes;
}

std::string to_base64(std::span<const std::uint8_t> bytes) {
  std::string text(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(text.data(), text.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  text.pop_back();
  return text;
}

std::string pem_armour(const char* label, std::span<const std::uint8_t> der) {
  constexpr std::size_t kLine = 64;
  std::string base64 = to_base64(der);
  std::string text = std::string("-----BEGIN ") + label + "-----\n";
  for (std::size_t at = 0; at < base64.size(); at += kLine) {
    text.append(base64, at, kLine);
    text += '\n';
  }
  return text + "-----END " + label + "-----\n";
}

std::vector<std::uint8_t> from_base64(std::string_view base64) {
  std::vector<std::uint8_t> bytes(base64.size() / 4 * 3 + 3);
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(bytes.data(), bytes.size(), base64.data(), base64.size(), nullptr, &length, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != base64.data() + base64.size()) {
    throw Error("invalid base64 data");
  }
  bytes.resize(length);
  return bytes;
}

}  // namespace custos
