#include "modules/protocol/frame.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace custos::protocol {
namespace {

// Waits until `fd` is ready for `events` or the deadline passes.
void wait_ready(int fd, short events, Deadline deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) throw FrameError(FrameError::Kind::kTimeout, "no answer before the deadline");
      timeout_ms = static_cast<int>(std::min<long long>(left, 60'000));
    }
    pollfd entry{fd, events, 0};
    int ready = ::poll(&entry, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw FrameError(FrameError::Kind::kIo, std::string("poll: ") + std::strerror(errno));
    if (ready > 0) return;
  }
}

// Reads exactly `size` bytes. Returns false when the stream ends before the
// first byte and `end_allowed`, throws FrameError otherwise.
bool read_exactly(int fd, std::uint8_t* out, std::size_t size, Deadline deadline, bool end_allowed) {
  std::size_t done = 0;
  while (done < size) {
    wait_ready(fd, POLLIN, deadline);
    ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && errno == ECONNRESET) n = 0;
    if (n < 0) throw FrameError(FrameError::Kind::kIo, std::string("read: ") + std::strerror(errno));
    if (n == 0) {
      if (done == 0 && end_allowed) return false;
      throw FrameError(FrameError::Kind::kMalformed, "the stream ended in the middle of a frame");
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void write_all(int fd, const std::uint8_t* data, std::size_t size, Deadline deadline) {
  std::size_t done = 0;
  while (done < size) {
    wait_ready(fd, POLLOUT, deadline);
    // MSG_NOSIGNAL: a peer that died is an error to report, not a SIGPIPE.
    ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data + done, size - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      throw FrameError(FrameError::Kind::kClosed, "the peer closed the stream");
    }
    if (n < 0) throw FrameError(FrameError::Kind::kIo, std::string("write: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

void write_frame(int fd, const nlohmann::json& message, Deadline deadline) {
  std::string body = message.dump();
  if (body.empty() || body.size() > kMaxFrameBytes) {
    throw FrameError(FrameError::Kind::kMalformed,
                     "a frame of " + std::to_string(body.size()) + " bytes exceeds the cap of " +
                         std::to_string(kMaxFrameBytes));
  }
  std::vector<std::uint8_t> frame(4 + body.size());
  auto length = static_cast<std::uint32_t>(body.size());
  frame[0] = static_cast<std::uint8_t>(length >> 24);
  frame[1] = static_cast<std::uint8_t>(length >> 16);
  frame[2] = static_cast<std::uint8_t>(length >> 8);
  frame[3] = static_cast<std::uint8_t>(length);
  std::memcpy(frame.data() + 4, body.data(), body.size());
  write_all(fd, frame.data(), frame.size(), deadline);
}

std::uint32_t declared_frame_length(std::span<const std::uint8_t, 4> header) {
  std::uint32_t length = (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
                         (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
  if (length == 0 || length > kMaxFrameBytes) {
    throw FrameError(FrameError::Kind::kMalformed, "a frame declared " + std::to_string(length) +
                                                       " bytes; frames are 1 to " + std::to_string(kMaxFrameBytes));
  }
  return length;
}

nlohmann::json parse_frame_body(std::string_view body) {
  nlohmann::json message = nlohmann::json::parse(body, nullptr, false);
  if (message.is_discarded()) throw FrameError(FrameError::Kind::kMalformed, "a frame is not valid JSON");
  if (!message.is_object()) throw FrameError(FrameError::Kind::kMalformed, "a frame is not a JSON object");
  return message;
}

nlohmann::json read_frame(int fd, Deadline deadline) {
  std::array<std::uint8_t, 4> header{};
  if (!read_exactly(fd, header.data(), header.size(), deadline, true)) {
    throw FrameError(FrameError::Kind::kClosed, "the peer closed the stream");
  }
  std::uint32_t length = declared_frame_length(header);
  std::string body(length, '\0');
  read_exactly(fd, reinterpret_cast<std::uint8_t*>(body.data()), length, deadline, false);
  return parse_frame_body(body);
}

}  // namespace custos::protocol
