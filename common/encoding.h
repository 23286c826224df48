// Hex and base64 for identifiers and stored blobs (not for secrets: those
// use SecureBuffer::to_hex). Thin wrappers over libsodium's constant-time
// codecs so that decoding errors become custos::Error.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace custos {

std::string to_hex(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> from_hex(std::string_view hex);
std::string to_base64(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> from_base64(std::string_view base64);

}  // namespace custos
