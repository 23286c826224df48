// For module authors writing an exec: module in C++: module protocol v1
// frames on stdin and stdout (PROTOCOL.md), with nlohmann::json messages.
// Header-only; depends on nlohmann-json alone.
//
//   #include "custos_module.h"
//   int main() {
//     nlohmann::json hello = custos::sdk::read_message();          // {"type":"hello",…}
//     custos::sdk::write_message({{"type", "hello"}, {"protocol", 1}, {"name", "mine"}});
//     for (;;) {
//       nlohmann::json message = custos::sdk::read_message();     // exits 0 when the engine hangs up
//       if (message["type"] == "shutdown") return 0;
//       …
//     }
//   }
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

namespace custos::sdk {

inline constexpr std::uint32_t kMaxFrameBytes = 1'048'576;

// Reads exactly `size` bytes of stdin; exits quietly when the engine has
// closed the stream, as it does after shutdown.
inline std::string read_exactly(std::size_t size) {
  std::string data(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(STDIN_FILENO, data.data() + done, size - done);
    if (n <= 0) std::exit(0);
    done += static_cast<std::size_t>(n);
  }
  return data;
}

// The next message from the engine. A frame over the cap or a body that is
// not a JSON object ends the module with status 4, like the host does.
inline nlohmann::json read_message() {
  std::string header = read_exactly(4);
  std::uint32_t length = 0;
  for (char byte : header) length = (length << 8) | static_cast<std::uint8_t>(byte);
  if (length == 0 || length > kMaxFrameBytes) std::exit(4);
  nlohmann::json message = nlohmann::json::parse(read_exactly(length), nullptr, false);
  if (!message.is_object()) std::exit(4);
  return message;
}

// The bytes of one frame: the 4-byte big-endian length, then the body.
inline std::string frame(const nlohmann::json& message) {
  std::string body = message.dump();
  auto length = static_cast<std::uint32_t>(body.size());
  std::string bytes = {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                       static_cast<char>(length >> 8), static_cast<char>(length)};
  return bytes + body;
}

// Writes raw bytes to the engine; exits when it is gone.
inline void write_bytes(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::exit(5);
    done += static_cast<std::size_t>(n);
  }
}

inline void write_message(const nlohmann::json& message) { write_bytes(frame(message)); }

}  // namespace custos::sdk
