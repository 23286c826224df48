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

// DER under `label` ("CERTIFICATE", "X509 CRL") as PEM text (RFC 7468):
// the two armour lines around base64 in lines of 64 characters, byte for
// byte what OpenSSL's PEM writer makes. Without OpenSSL, so that a module
// host that writes PEM does not load libcrypto, and without parsing the
// DER, which would decode any key in it.
std::string pem_armour(const char* label, std::span<const std::uint8_t> der);

}  // namespace custos
