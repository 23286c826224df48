// libFuzzer target: what a module (or the engine) can put on the socket: a
// frame header, its JSON body, and that message read as each of the
// protocol's messages (modules/protocol).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/error.h"
#include "modules/protocol/frame.h"
#include "modules/protocol/messages.h"

namespace protocol = custos::protocol;

namespace {

template <typename Decode>
void try_decode(Decode decode) {
  try {
    decode();
  } catch (const custos::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  nlohmann::json message;
  try {
    std::uint32_t length = protocol::declared_frame_length(std::span<const std::uint8_t, 4>(data, 4));
    std::string_view body(reinterpret_cast<const char*>(data) + 4, std::min<std::size_t>(length, size - 4));
    message = protocol::parse_frame_body(body);
  } catch (const custos::Error&) {
    return 0;
  }
  try_decode([&] { (void)protocol::message_type(message); });
  try_decode([&] { (void)protocol::decode_hello(message); });
  try_decode([&] { (void)protocol::decode_hello_answer(message, protocol::Role::kPolicy); });
  try_decode([&] { (void)protocol::decode_hello_answer(message, protocol::Role::kExit); });
  try_decode([&] { (void)protocol::decode_verify_request(message); });
  try_decode([&] { (void)protocol::decode_verdict(message); });
  try_decode([&] { (void)protocol::decode_notify(message); });
  try_decode([&] { protocol::decode_ack(message); });
  try_decode([&] { protocol::decode_shutdown(message); });
  return 0;
}
