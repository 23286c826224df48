// A module's way to the destinations its table names (`network = [...]`
// in custos.toml), and to nothing else.
//
// The module runs in a network namespace of its own whose one interface is
// loopback. For each destination HOST:PORT the host listens in there, at
// PORT of the address the module's /etc/hosts gives HOST (127.0.1.N for a
// name, the address itself for an IPv4 one); the view's nsswitch.conf
// says `hosts: files`, so no other name resolves and no DNS query leaves.
// The supervisor (the host's waiting parent, outside the module's filter)
// accepts each connection there and relays its bytes to a connection the
// dialer made: a small process forked before the host left the engine's
// network namespace, running as nobody, that resolves and connects to a
// destination given by its index in the list, and to nothing else.
//
//   NetworkRelay relay(destinations);      // before unshare(CLONE_NEWNET)
//   std::string hosts = relay.listen();    // after: loopback up, listeners
//   … fork; the child calls relay.close_all(); the supervisor polls:
//   relay.add_to(watched); poll(…); relay.serve(watched);
#pragma once

#include <poll.h>

#include <cstdint>
#include <string>
#include <vector>

namespace custos::host {

struct Destination {
  std::string host;
  std::uint16_t port = 0;
};

// "HOST:PORT" as the engine passes it (--connect); exits the host (status
// 6) on anything else.
Destination parse_destination(const std::string& text);

class NetworkRelay {
 public:
  explicit NetworkRelay(std::vector<Destination> destinations);
  ~NetworkRelay();
  NetworkRelay(const NetworkRelay&) = delete;
  NetworkRelay& operator=(const NetworkRelay&) = delete;

  // In the module's new network namespace: brings loopback up, listens
  // for each destination, and returns the /etc/hosts the view holds.
  std::string listen();
  // Every descriptor the relay holds, for the supervisor to keep.
  std::vector<int> descriptors() const;
  // In the child that becomes the module: none of it crosses.
  void close_all();

  // The supervisor's part: what to poll, and what to do with it.
  void add_to(std::vector<pollfd>& watched) const;
  void serve(const std::vector<pollfd>& watched);

 private:
  struct Listener {
    std::size_t destination;
    int fd;
  };
  struct Connection {
    int inside = -1;   // the module's connection, accepted
    int outside = -1;  // the dialer's, to the destination
    std::string to_outside;
    std::string to_inside;
    bool inside_ended = false;
    bool outside_ended = false;
  };
  int dial(std::size_t destination);
  void accept_from(const Listener& listener);
  void move(Connection& connection, short inside_events, short outside_events);

  std::vector<Destination> destinations_;
  int dialer_ = -1;  // SOCK_SEQPACKET to the dialer
  unsigned char sequence_ = 0;  // of the last dial
  int failed_dials_ = 0;
  std::vector<Listener> listeners_;
  std::vector<Connection> connections_;
};

}  // namespace custos::host
