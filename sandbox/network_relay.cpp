#include "sandbox/network_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "sandbox/descriptor_passing.h"
#include "sandbox/sandbox.h"

namespace custos::host {
namespace {

constexpr std::size_t kBufferBytes = 64 << 10;
constexpr int kDialSeconds = 10;
constexpr std::size_t kMaxConnections = 32;

[[noreturn]] void refuse(const std::string& message) {
  std::fprintf(stderr, "custos-module-host: sandbox: %s\n", message.c_str());
  std::_Exit(kSandboxRefused);
}

std::string errno_text() { return std::strerror(errno); }

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// The dialer: in the engine's network, as nobody, it connects to the
// destination whose index it is sent, and sends the connection back.
[[noreturn]] void run_dialer(int channel, const std::vector<Destination>& destinations) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  int kept = ::fcntl(channel, F_DUPFD, STDERR_FILENO + 1);
  ::dup2(kept, STDERR_FILENO + 1);
  ::closefrom(STDERR_FILENO + 2);
  channel = STDERR_FILENO + 1;
  if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                           ::setresuid(65534, 65534, 65534) != 0)) {
    std::_Exit(kSandboxRefused);
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // changing uid cleared it
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  for (;;) {
    // [destination index, sequence number]; the answer carries the
    // sequence number back, and the connection when there is one.
    unsigned char request[2] = {};
    ssize_t got = ::recv(channel, request, sizeof request, 0);
    if (got <= 0) std::_Exit(0);
    if (got != sizeof request) continue;
    unsigned char index = request[0];
    int connected = -1;
    if (index < destinations.size()) {
      const Destination& destination = destinations[index];
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      if (::getaddrinfo(destination.host.c_str(), std::to_string(destination.port).c_str(), &hints, &found) == 0) {
        for (addrinfo* at = found; at != nullptr && connected < 0; at = at->ai_next) {
          int fd = ::socket(at->ai_family, at->ai_socktype | SOCK_CLOEXEC, at->ai_protocol);
          if (fd < 0) continue;
          timeval limit{kDialSeconds, 0};
          ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
          if (::connect(fd, at->ai_addr, at->ai_addrlen) == 0) {
            connected = fd;
          } else {
            ::close(fd);
          }
        }
        ::freeaddrinfo(found);
      }
    }
    send_descriptor(channel, static_cast<char>(request[1]), connected);
    if (connected >= 0) ::close(connected);
  }
}

bool is_ipv4(const std::string& host, in_addr& address) { return ::inet_pton(AF_INET, host.c_str(), &address) == 1; }

}  // namespace

Destination parse_destination(const std::string& text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) refuse("'" + text + "' is not HOST:PORT");
  char* end = nullptr;
  unsigned long port = std::strtoul(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port == 0 || port > 65535) refuse("'" + text + "' is not HOST:PORT");
  return {text.substr(0, colon), static_cast<std::uint16_t>(port)};
}

NetworkRelay::NetworkRelay(std::vector<Destination> destinations) : destinations_(std::move(destinations)) {
  if (destinations_.size() > 200) refuse("at most 200 network destinations");
  int channel[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0) {
    refuse("cannot make the dialer's channel: " + errno_text());
  }
  pid_t dialer = ::fork();
  if (dialer < 0) refuse("cannot start the dialer: " + errno_text());
  if (dialer == 0) {
    ::close(channel[0]);
    run_dialer(channel[1], destinations_);
  }
  ::close(channel[1]);
  dialer_ = channel[0];
}

NetworkRelay::~NetworkRelay() { close_all(); }

std::string NetworkRelay::listen() {
  int control = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq loopback{};
  std::strncpy(loopback.ifr_name, "lo", IFNAMSIZ - 1);
  if (control < 0 || ::ioctl(control, SIOCGIFFLAGS, &loopback) != 0) refuse("cannot read loopback's flags: " + errno_text());
  loopback.ifr_flags = static_cast<short>(loopback.ifr_flags | IFF_UP);
  if (::ioctl(control, SIOCSIFFLAGS, &loopback) != 0) refuse("cannot bring loopback up: " + errno_text());

  std::string hosts;
  std::map<std::string, in_addr> addresses;
  std::set<std::pair<std::uint32_t, std::uint16_t>> listening;
  int next_name = 1;
  int next_alias = 1;
  for (std::size_t index = 0; index < destinations_.size(); ++index) {
    const Destination& destination = destinations_[index];
    if (!addresses.contains(destination.host)) {
      in_addr address{};
      if (is_ipv4(destination.host, address)) {
        if ((ntohl(address.s_addr) >> 24) != 127) {
          // An address outside 127/8 is given to loopback too (an alias),
          // so the module reaches it at the address it was told.
          ifreq alias{};
          std::snprintf(alias.ifr_name, IFNAMSIZ, "lo:%d", next_alias++);
          auto* inet = reinterpret_cast<sockaddr_in*>(&alias.ifr_addr);
          inet->sin_family = AF_INET;
          inet->sin_addr = address;
          if (::ioctl(control, SIOCSIFADDR, &alias) != 0) refuse("cannot give loopback " + destination.host + ": " + errno_text());
        }
      } else {
        address.s_addr = htonl((127u << 24) | (1u << 8) | static_cast<unsigned>(next_name++));
        hosts += std::string(::inet_ntoa(address)) + " " + destination.host + "\n";
      }
      addresses[destination.host] = address;
    }
    // "localhost:80" and "127.0.0.1:80" are one place: one listener.
    std::pair<std::uint32_t, std::uint16_t> place{addresses[destination.host].s_addr, destination.port};
    if (!listening.insert(place).second) continue;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int reuse = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_addr = addresses[destination.host];
    bound.sin_port = htons(destination.port);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 || ::listen(fd, 16) != 0) {
      refuse("cannot listen for " + destination.host + ":" + std::to_string(destination.port) + ": " + errno_text());
    }
    listeners_.push_back({index, fd});
  }
  ::close(control);
  // A name on the list, "localhost" among them, is the relay's; otherwise
  // localhost is the module's own loopback, where nothing listens.
  if (!addresses.contains("localhost")) hosts += "127.0.0.1 localhost\n";
  return hosts;
}

std::vector<int> NetworkRelay::descriptors() const {
  std::vector<int> fds = {dialer_};
  for (const Listener& listener : listeners_) fds.push_back(listener.fd);
  return fds;
}

void NetworkRelay::close_all() {
  if (dialer_ >= 0) ::close(dialer_);
  dialer_ = -1;
  for (const Listener& listener : listeners_) ::close(listener.fd);
  listeners_.clear();
  for (const Connection& connection : connections_) {
    ::close(connection.inside);
    ::close(connection.outside);
  }
  connections_.clear();
}

int NetworkRelay::dial(std::size_t destination) {
  // Numbered, so that an answer that comes after its dial gave up is not
  // taken for the next one's (a connection to another destination).
  unsigned char request[2] = {static_cast<unsigned char>(destination), ++sequence_};
  if (::send(dialer_, request, sizeof request, MSG_NOSIGNAL) != sizeof request) return -1;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(kDialSeconds + 5);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    pollfd answer{dialer_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&answer, 1, static_cast<int>(left.count())) != 1) return -1;
    char number = 0;
    int fd = receive_descriptor(dialer_, number);
    if (static_cast<unsigned char>(number) == sequence_) return fd;  // -1: it could not connect
    if (fd >= 0) ::close(fd);  // a late answer to an earlier dial
  }
}

void NetworkRelay::accept_from(const Listener& listener) {
  int inside = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (inside < 0) return;
  int outside = connections_.size() < kMaxConnections ? dial(listener.destination) : -1;
  if (outside < 0) {
    // The destination cannot be reached: the module sees its connection
    // reset, as it would have connecting there itself, and the module log
    // says where (the first few times).
    constexpr int kLoggedFailures = 20;
    if (++failed_dials_ <= kLoggedFailures) {
      const Destination& failed = destinations_[listener.destination];
      std::fprintf(stderr, "custos-module-host: could not reach %s:%u for the module%s\n", failed.host.c_str(),
                   static_cast<unsigned>(failed.port), failed_dials_ == kLoggedFailures ? " (further failures not logged)" : "");
    }
    linger reset{1, 0};
    ::setsockopt(inside, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(inside);
    return;
  }
  set_nonblocking(outside);
  connections_.push_back({inside, outside, {}, {}, false, false});
}

void NetworkRelay::add_to(std::vector<pollfd>& watched) const {
  for (const Listener& listener : listeners_) watched.push_back({listener.fd, POLLIN, 0});
  for (const Connection& connection : connections_) {
    auto events = [](bool ended, const std::string& incoming, const std::string& outgoing) {
      short wanted = 0;
      if (!ended && incoming.size() < kBufferBytes) wanted |= POLLIN;
      if (!outgoing.empty()) wanted |= POLLOUT;
      return wanted;
    };
    // An end with nothing to wait for is left out (fd -1): its hang-up or
    // error would otherwise wake the poll at once, over and over.
    auto end = [&](int fd, bool ended, const std::string& incoming, const std::string& outgoing) {
      short wanted = events(ended, incoming, outgoing);
      return pollfd{wanted == 0 ? -1 : fd, wanted, 0};
    };
    watched.push_back(end(connection.inside, connection.inside_ended, connection.to_outside, connection.to_inside));
    watched.push_back(end(connection.outside, connection.outside_ended, connection.to_inside, connection.to_outside));
  }
}

void NetworkRelay::move(Connection& connection, short inside_events, short outside_events) {
  auto read_into = [](int from, std::string& buffer, bool& ended, short events) {
    if (!ended && (events & POLLERR) != 0) ended = true;  // reset: nothing more will come
    if (ended || (events & (POLLIN | POLLHUP)) == 0 || buffer.size() >= kBufferBytes) return;
    char chunk[16384];
    ssize_t count = ::recv(from, chunk, std::min(sizeof chunk, kBufferBytes - buffer.size()), 0);
    if (count > 0) {
      buffer.append(chunk, static_cast<std::size_t>(count));
    } else if (count == 0 || (errno != EAGAIN && errno != EINTR)) {
      ended = true;
    }
  };
  // A write that fails ends both directions.
  auto write_from = [&](int to, std::string& buffer) {
    if (buffer.empty()) return true;
    ssize_t count = ::send(to, buffer.data(), buffer.size(), MSG_NOSIGNAL);
    if (count > 0) buffer.erase(0, static_cast<std::size_t>(count));
    return count > 0 || errno == EAGAIN || errno == EINTR;
  };
  read_into(connection.inside, connection.to_outside, connection.inside_ended, inside_events);
  read_into(connection.outside, connection.to_inside, connection.outside_ended, outside_events);
  bool writable = write_from(connection.outside, connection.to_outside) && write_from(connection.inside, connection.to_inside);
  if (!writable) {
    connection.inside_ended = connection.outside_ended = true;
    connection.to_inside.clear();
    connection.to_outside.clear();
  }
  // An end of stream is passed on once what came before it has been.
  if (connection.inside_ended && connection.to_outside.empty()) ::shutdown(connection.outside, SHUT_WR);
  if (connection.outside_ended && connection.to_inside.empty()) ::shutdown(connection.inside, SHUT_WR);
}

void NetworkRelay::serve(const std::vector<pollfd>& watched) {
  // add_to put the listeners and then each connection's two ends last.
  std::size_t first = watched.size() - listeners_.size() - 2 * connections_.size();
  std::size_t listeners = listeners_.size();
  for (std::size_t index = 0; index < connections_.size(); ++index) {
    move(connections_[index], watched[first + listeners + 2 * index].revents,
         watched[first + listeners + 2 * index + 1].revents);
  }
  std::erase_if(connections_, [](const Connection& connection) {
    bool done = connection.inside_ended && connection.outside_ended && connection.to_inside.empty() &&
                connection.to_outside.empty();
    if (done) {
      ::close(connection.inside);
      ::close(connection.outside);
    }
    return done;
  });
  for (std::size_t index = 0; index < listeners; ++index) {
    if ((watched[first + index].revents & POLLIN) != 0) accept_from(listeners_[index]);
  }
}

}  // namespace custos::host
