// Frames of the module protocol: a 4-byte big-endian length N
// (1 <= N <= 1,048,576) and N bytes of one UTF-8 JSON object.
//
//   write_frame(socket, {{"type", "shutdown"}}, deadline);
//   nlohmann::json answer = read_frame(socket, deadline);
//
// A declared length over the cap is refused before a byte of the body is
// read, so a module that announces 2 GiB costs nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace custos::protocol {

constexpr std::uint32_t kMaxFrameBytes = 1'048'576;
// A CRL larger than this goes in parts of this size, each in a frame of its
// own (the notify of PROTOCOL.md, custosd's current_crl): its base64 and the
// message around it stay well under kMaxFrameBytes.
constexpr std::size_t kCrlPartBytes = 512 * 1024;
constexpr int kProtocolVersion = 1;

using Clock = std::chrono::steady_clock;
// No deadline: wait as long as it takes (the module host waits for the
// engine this way; the engine never does).
using Deadline = std::optional<Clock::time_point>;

// What went wrong with a frame: the peer closed the stream, the deadline
// passed, or the frame was malformed. The message says which.
class FrameError : public Error {
 public:
  CUSTOS_ERROR_TYPE(FrameError)
  enum class Kind { kClosed, kTimeout, kMalformed, kIo };
  FrameError(Kind kind, const std::string& message) : Error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

void write_frame(int fd, const nlohmann::json& message, Deadline deadline);

// Reads one frame and parses its body; throws FrameError. A stream closed
// cleanly between frames is Kind::kClosed; closed inside one is kMalformed.
nlohmann::json read_frame(int fd, Deadline deadline);

// The two halves of read_frame, without the stream: the length a 4-byte
// header declares (throws kMalformed outside 1..kMaxFrameBytes), and the
// body parsed as one JSON object (throws kMalformed otherwise).
std::uint32_t declared_frame_length(std::span<const std::uint8_t, 4> header);
nlohmann::json parse_frame_body(std::string_view body);

}  // namespace custos::protocol
