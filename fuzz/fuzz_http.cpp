// libFuzzer target: raw bytes on a connection to custos-http, through
// httplib's request parser, the front end's screening and every route
// (REST, EST, OCSP, CRL), to the call it would make on the engine. The
// engine here refuses every call, so routes also answer its failures.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "appliance/http/engine_link.h"
#include "appliance/http/http_front_end.h"

namespace {

// What the connection carries in: the fuzzer's bytes; what goes out is dropped.
class InputStream : public httplib::Stream {
 public:
  InputStream(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* out, std::size_t count) override {
    std::size_t n = std::min(count, size_ - offset_);
    std::memcpy(out, data_ + offset_, n);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char*, std::size_t count) override { return static_cast<ssize_t>(count); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8443;
  }
  socket_t socket() const override { return -1; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

class RefusingEngine : public custos::server::EngineLink {
 public:
  nlohmann::json call(const nlohmann::json&) override {
    return {{"ok", false}, {"error", "no such request"}, {"kind", "not_found"}};
  }
};

// Server::process_request is protected: the one way in without a socket.
class FuzzedServer : public httplib::Server {
 public:
  void serve(InputStream& stream) {
    bool closed = false;
    process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static RefusingEngine engine;
  static custos::server::HttpFrontEnd front_end(engine);
  static FuzzedServer* server = [] {
    spdlog::set_level(spdlog::level::off);
    auto* made = new FuzzedServer;
    front_end.serve_on(*made, /*tls=*/true);
    return made;
  }();
  InputStream stream(data, size);
  server->serve(stream);
  return 0;
}
