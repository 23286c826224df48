// custos-module-host builtin:NAME
//
// Runs one built-in module behind module protocol v1 on fd 3, a socket the
// engine made. The engine drives: hello first, then verify_request (a
// policy module) as often as it likes, then shutdown. Anything else, or
// anything out of that order, ends the host with a distinct exit status
// and one line on stderr, which the engine records.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "modules/policy/policy_module.h"
#include "modules/protocol/frame.h"

namespace {

using namespace custos;

constexpr int kEngineFd = 3;

// Exit statuses the engine reports by name.
enum ExitStatus : int {
  kShutdown = 0,
  kUsage = 2,
  kConfigurationRefused = 3,
  kProtocolViolation = 4,
  kEngineGone = 5,
};

[[noreturn]] void die(int status, const std::string& message) {
  std::fprintf(stderr, "custos-module-host: %s\n", message.c_str());
  std::exit(status);
}

nlohmann::json next_message() {
  try {
    return protocol::read_frame(kEngineFd, std::nullopt);
  } catch (const protocol::FrameError& error) {
    if (error.kind() == protocol::FrameError::Kind::kClosed) die(kEngineGone, "the engine closed the connection");
    die(kProtocolViolation, error.what());
  }
}

void answer(const nlohmann::json& message) {
  try {
    protocol::write_frame(kEngineFd, message, std::nullopt);
  } catch (const protocol::FrameError& error) {
    die(kEngineGone, error.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]).rfind("builtin:", 0) != 0) {
    die(kUsage, "usage: custos-module-host builtin:NAME (with the engine's socket on fd 3)");
  }
  std::string name = std::string(argv[1]).substr(8);
  std::unique_ptr<policy::PolicyModule> module = policy::make_builtin_policy(name);
  if (!module) die(kUsage, "there is no built-in module '" + name + "'");

  // Phase 1: hello, and nothing else.
  try {
    protocol::Hello hello = protocol::decode_hello(next_message());
    if (hello.role != protocol::Role::kPolicy) die(kProtocolViolation, "builtin:" + name + " is a policy module");
    answer(protocol::encode(module->hello(hello.config)));
  } catch (const protocol::ProtocolError& error) {
    die(kConfigurationRefused, error.what());
  }

  // Phase 2: questions until shutdown.
  for (;;) {
    nlohmann::json message = next_message();
    try {
      std::string type = protocol::message_type(message);
      if (type == "verify_request") {
        answer(protocol::encode(module->verify(protocol::decode_verify_request(message))));
      } else if (type == "shutdown") {
        protocol::decode_shutdown(message);
        return kShutdown;
      } else {
        die(kProtocolViolation, "a '" + type + "' message is not allowed after hello");
      }
    } catch (const protocol::ProtocolError& error) {
      die(kProtocolViolation, error.what());
    }
  }
}
