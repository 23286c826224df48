// custos-module-host [--require-namespaces] [--network | --connect HOST:PORT…] [--hide DIR…]
//                    [--writable-dir DIR [--writable-limit BYTES FILES]]
//                    MODULE [ARGS…]
//
// Runs one module in a sandbox (sandbox.h, seccomp_policy.h) behind module
// protocol v1 on fd 3, a socket the engine made. MODULE is builtin:NAME,
// run here; exec:PATH.so, a shared object loaded here through the C ABI of
// modules/sdk/custos_module_v1.h; or exec:PATH, a program the host executes
// inside the same sandbox with the socket as its stdin and stdout.
//
// The engine drives a built-in module: hello first, then verify_request (a
// policy module) or notify (an exit module) as often as it likes, then
// shutdown. Anything else, or anything out of that
// order, ends the host with a distinct exit status and one line on stderr
// (the engine's module log).
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "modules/exit/exit_module.h"
#include "sandbox/sandbox.h"
#include "modules/sdk/custos_module_v1.h"
#include "sandbox/seccomp_policy.h"
#include "modules/policy/policy_module.h"
#include "modules/protocol/frame.h"

namespace {

using namespace custos;

constexpr int kEngineFd = 3;

// Exit statuses the engine reports by name; 6 is host::kSandboxRefused.
enum ExitStatus : int {
  kShutdown = 0,
  kUsage = 2,
  kConfigurationRefused = 3,
  kProtocolViolation = 4,
  kEngineGone = 5,
  kCannotStart = 7,
  kPublishFailed = 8,
  kModuleBroke = 9,
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

// Runs the exchange for one module. The hello comes first (and nothing
// else may): `greet` answers it. Then the one message type the module's
// role permits — verify_request for a policy module, notify for an exit
// module — is answered by `respond`, until shutdown. `role`, when given, is
// the only role the module can take.
template <typename Greet, typename Respond>
[[noreturn]] void serve(std::optional<protocol::Role> role, const std::string& name, Greet&& greet,
                        Respond&& respond) {
  protocol::Role taken = protocol::Role::kPolicy;
  try {
    protocol::Hello greeting = protocol::decode_hello(next_message());
    if (role && greeting.role != *role) {
      die(kProtocolViolation, name + " is a" + (*role == protocol::Role::kPolicy ? " policy" : "n exit") + " module");
    }
    taken = greeting.role;
    answer(greet(greeting));
  } catch (const protocol::ProtocolError& error) {
    die(kConfigurationRefused, error.what());
  }
  const std::string question = taken == protocol::Role::kPolicy ? "verify_request" : "notify";
  for (;;) {
    nlohmann::json message = next_message();
    try {
      std::string type = protocol::message_type(message);
      if (type == question) {
        answer(respond(message));
      } else if (type == "shutdown") {
        protocol::decode_shutdown(message);
        std::exit(kShutdown);
      } else {
        die(kProtocolViolation, "a '" + type + "' message is not allowed after hello");
      }
    } catch (const protocol::ProtocolError& error) {
      die(kProtocolViolation, error.what());
    }
  }
}

// A module built as a shared object (modules/sdk/custos_module_v1.h): the
// host keeps the frames and passes each message to it as JSON text. Its
// answers go to the engine as they are; the engine checks them as strictly
// as any module's.
[[noreturn]] void serve_shared_object(const custos_module_v1& module, const std::string& name) {
  std::vector<char> buffer(protocol::kMaxFrameBytes + 1);
  auto take_answer = [&](int result, const char* what) {
    buffer.back() = '\0';
    if (result != 0) die(what == std::string("hello") ? kConfigurationRefused : kPublishFailed, name + ": " + buffer.data());
    nlohmann::json answer_json = nlohmann::json::parse(buffer.data(), nullptr, false);
    if (!answer_json.is_object()) die(kModuleBroke, name + " answered " + what + " with something that is not a JSON object");
    return answer_json;
  };
  serve(
      std::nullopt, name,
      [&](const protocol::Hello& hello) {
        std::string role(protocol::role_name(hello.role));
        return take_answer(module.hello(role.c_str(), hello.config.dump().c_str(), buffer.data(), buffer.size()),
                           "hello");
      },
      [&](const nlohmann::json& message) {
        return take_answer(module.handle(message.dump().c_str(), buffer.data(), buffer.size()), "a question");
      });
}

// The PATH an exec: module runs with, and where `#!/usr/bin/env NAME` is
// looked up: fixed, so what a module runs does not depend on who started
// the engine.
constexpr char kModulePath[] = "/usr/local/bin:/usr/bin:/bin";

bool is_elf_executable(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  char magic[4] = {};
  bool elf = file != nullptr && std::fread(magic, 1, 4, file) == 4 && std::memcmp(magic, "\x7f" "ELF", 4) == 0;
  if (file != nullptr) std::fclose(file);
  return elf && ::access(path.c_str(), X_OK) == 0;
}

// The words of a script's #! line; empty for a program that has none.
std::vector<std::string> shebang_of(const std::filesystem::path& program) {
  std::FILE* file = std::fopen(program.c_str(), "rb");
  char line[256] = {};
  bool found = file != nullptr && std::fgets(line, sizeof line, file) != nullptr && line[0] == '#' && line[1] == '!';
  if (file != nullptr) std::fclose(file);
  std::vector<std::string> words;
  if (!found) return words;
  std::string text(line + 2);
  for (std::size_t start = text.find_first_not_of(" \t\r\n"); start != std::string::npos;) {
    std::size_t end = text.find_first_of(" \t\r\n", start);
    words.push_back(text.substr(start, end - start));
    start = end == std::string::npos ? end : text.find_first_not_of(" \t\r\n", end);
  }
  return words;
}

// `NAME` as env would find it in the module's PATH — the first binary of
// that name, so a wrapper script (a version manager's shim) is passed over.
std::optional<std::filesystem::path> find_in_module_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return std::filesystem::path(name);
  std::string directories = kModulePath;
  for (std::size_t start = 0; start <= directories.size();) {
    std::size_t end = directories.find(':', start);
    std::filesystem::path candidate = std::filesystem::path(directories.substr(start, end - start)) / name;
    if (is_elf_executable(candidate)) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return std::nullopt;
}

// Where an interpreter at PREFIX/bin/NAME keeps its standard library and
// data: PREFIX/lib, PREFIX/lib64 and PREFIX/share.
void add_interpreter_directories(const std::filesystem::path& interpreter, host::SandboxOptions& options) {
  std::error_code error;
  for (const std::filesystem::path& path : {interpreter, std::filesystem::canonical(interpreter, error)}) {
    if (path.empty() || (path.parent_path().filename() != "bin" && path.parent_path().filename() != "sbin")) continue;
    for (const char* name : {"lib", "lib64", "share"}) {
      std::filesystem::path directory = path.parent_path().parent_path() / name;
      bool known = std::find(options.readable_directories.begin(), options.readable_directories.end(), directory) !=
                   options.readable_directories.end();
      if (!known && std::filesystem::is_directory(directory, error)) options.readable_directories.push_back(directory);
    }
  }
}

// What an exec: module needs to see to start, found here before the view
// is built: its program; files its arguments name; for a script, the
// interpreter of its #! line (`#!/usr/bin/env NAME` resolved in the
// module's PATH) with that interpreter's library and data directories; and
// the directory of the module's script — the program's own when it is a
// script, else the first file its arguments name — so that it can import
// what sits beside it.
void add_module_files(const std::vector<std::string>& command, host::SandboxOptions& options) {
  std::optional<std::filesystem::path> script;
  for (std::size_t index = 0; index < command.size(); ++index) {
    const std::string& word = command[index];
    std::error_code error;
    if (word.empty() || word.front() != '/' || !std::filesystem::is_regular_file(word, error)) continue;
    options.readable_files.emplace_back(word);
    if (index > 0 && !script) script = word;
  }
  if (command.empty()) return;
  std::vector<std::string> shebang = shebang_of(command.front());
  if (!shebang.empty()) script = command.front();
  std::vector<std::filesystem::path> interpreters;
  if (!shebang.empty()) interpreters.emplace_back(shebang.front());
  if (!shebang.empty() && std::filesystem::path(shebang.front()).filename() == "env") {
    auto name = std::find_if(shebang.begin() + 1, shebang.end(), [](const std::string& word) { return word.front() != '-'; });
    if (name != shebang.end()) {
      if (std::optional<std::filesystem::path> found = find_in_module_path(*name)) interpreters.push_back(*found);
    }
  }
  if (shebang.empty() && is_elf_executable(command.front())) interpreters.emplace_back(command.front());
  for (const std::filesystem::path& interpreter : interpreters) {
    options.readable_files.push_back(interpreter);
    add_interpreter_directories(interpreter, options);
  }
  if (script) {
    std::filesystem::path directory = std::filesystem::path(*script).parent_path();
    bool system = directory == "/" || directory.filename() == "bin" || directory.filename() == "sbin";
    if (!system) options.readable_directories.push_back(directory);
  }
}

}  // namespace

int main(int argc, char** argv) {
  host::SandboxOptions options;
  int next = 1;
  for (; next < argc && std::strncmp(argv[next], "--", 2) == 0; ++next) {
    std::string flag = argv[next];
    if (flag == "--require-namespaces") {
      options.require_namespaces = true;
    } else if (flag == "--network") {
      options.network = true;
    } else if (flag == "--hide" && next + 1 < argc) {
      options.hidden_directories.emplace_back(argv[++next]);
    } else if (flag == "--connect" && next + 1 < argc) {
      options.destinations.push_back(host::parse_destination(argv[++next]));
    } else if (flag == "--writable-dir" && next + 1 < argc) {
      options.writable_directory = argv[++next];
    } else if (flag == "--writable-limit" && next + 2 < argc) {
      // BYTES FILES: what the writable directory may hold in all.
      options.directory_limit = host::DirectoryLimit{std::strtoull(argv[next + 1], nullptr, 10),
                                                     std::strtoull(argv[next + 2], nullptr, 10)};
      next += 2;
    } else {
      die(kUsage, "unknown option " + flag);
    }
  }
  if (next >= argc) die(kUsage, "usage: custos-module-host [OPTIONS] builtin:NAME | exec:PATH [ARGS…] (socket on fd 3)");
  std::string module = argv[next];
  std::vector<std::string> command;
  if (module.rfind("exec:", 0) == 0) {
    command.push_back(module.substr(5));
    for (int i = next + 1; i < argc; ++i) command.emplace_back(argv[i]);
    add_module_files(command, options);
  } else if (module.rfind("builtin:", 0) != 0 || next + 1 != argc) {
    die(kUsage, "MODULE must be builtin:NAME, or exec:PATH followed by its arguments");
  }
  // A built-in module is made before the sandbox: builtin:ldap's library is
  // loaded now, as it would have been at start had it been linked in.
  std::unique_ptr<policy::PolicyModule> policy_module;
  std::unique_ptr<exit::ExitModule> exit_module;
  if (command.empty()) {
    std::string name = module.substr(8);
    policy_module = policy::make_builtin_policy(name);
    try {
      if (!policy_module) exit_module = exit::make_builtin_exit(name);
    } catch (const Error& error) {
      die(kCannotStart, error.what());
    }
    if (!policy_module && !exit_module) die(kUsage, "there is no built-in module '" + name + "'");
  }

  host::SandboxReport report = host::enter_sandbox(options);
  // Nothing but stdin, stdout, stderr and the engine's socket crosses into
  // the module, whatever the sandbox's set-up opened; the supervisor's
  // channel goes to the module's filter, which sends its listener there
  // and closes it.
  if (report.supervisor >= 0) {
    int supervisor = ::fcntl(report.supervisor, F_DUPFD_CLOEXEC, kEngineFd + 1);
    ::close(report.supervisor);
    ::close_range(kEngineFd + 1, supervisor - 1, 0);
    ::close_range(supervisor + 1, ~0U, 0);
    host::report_forbidden_calls_to(supervisor);
  } else {
    ::close_range(kEngineFd + 1, ~0U, 0);
  }
  std::fprintf(stderr, "custos-module-host: %s: %s; seccomp on\n", module.c_str(), report.describe().c_str());

  // Internet sockets: the engine's whole network, or the relay's listeners
  // in the module's own.
  const bool connects = options.network || !options.destinations.empty();
  // Writing is allowed only to a directory inside a read-only view: without
  // the view, the module would write wherever the engine's user may.
  const bool writes_files = options.writable_directory.has_value() && report.filesystem_view;

  if (!command.empty() && command.front().ends_with(".so")) {
    if (command.size() > 1) die(kUsage, "a shared-object module takes no arguments");
    // The library's constructors run inside dlopen: under the loader filter.
    host::install_seccomp_filter(host::ModuleKind::kLoader, connects, false);
    void* library = ::dlopen(command.front().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) die(kCannotStart, std::string("cannot load ") + command.front() + ": " + ::dlerror());
    auto entry = reinterpret_cast<custos_module_v1_entry_fn>(::dlsym(library, "custos_module_v1_entry"));
    const custos_module_v1* shared_module = entry != nullptr ? entry() : nullptr;
    if (shared_module == nullptr || shared_module->abi_version != CUSTOS_MODULE_ABI_VERSION ||
        shared_module->hello == nullptr || shared_module->handle == nullptr) {
      die(kCannotStart, command.front() + " is not a custos_module_v1 module (custos_module_v1_entry, ABI 1)");
    }
#if !defined(__SANITIZE_ADDRESS__)
    host::limit_address_space();
#endif
    host::install_seccomp_filter(host::ModuleKind::kInHost, connects, writes_files);
    serve_shared_object(*shared_module, module);
  }

  if (!command.empty()) {
    // The module's program gets the socket as stdin and stdout, then the
    // filter, then the address-space limit, then its own image.
    if (::dup2(kEngineFd, STDIN_FILENO) < 0 || ::dup2(kEngineFd, STDOUT_FILENO) < 0) {
      die(kCannotStart, std::string("dup2: ") + std::strerror(errno));
    }
    ::close(kEngineFd);
    std::vector<char*> arguments;
    for (std::string& word : command) arguments.push_back(word.data());
    arguments.push_back(nullptr);
    static std::string path_variable = std::string("PATH=") + kModulePath;
    static char locale_variable[] = "LANG=C.UTF-8";
    char* environment[] = {path_variable.data(), locale_variable, nullptr};
    host::install_seccomp_filter(host::ModuleKind::kExec, connects, writes_files);
    host::limit_address_space();
    ::execve(arguments[0], arguments.data(), environment);
    die(kCannotStart, "cannot start " + command.front() + ": " + std::strerror(errno));
  }

#if !defined(__SANITIZE_ADDRESS__)
  host::limit_address_space();  // AddressSanitizer's shadow memory cannot live under it
#endif
  host::install_seccomp_filter(host::ModuleKind::kInHost, connects, writes_files);
  if (policy_module) {
    serve(
        protocol::Role::kPolicy, module,
        [&](const protocol::Hello& hello) { return protocol::encode(policy_module->hello(hello)); },
        [&](const nlohmann::json& message) {
          return protocol::encode(policy_module->verify(protocol::decode_verify_request(message)));
        });
  }
  serve(
      protocol::Role::kExit, module,
      [&](const protocol::Hello& hello) { return protocol::encode(exit_module->hello(hello)); },
      [&, crl_parts = protocol::CrlParts()](const nlohmann::json& message) mutable {
        try {
          // A part of a CRL is acked as it comes; the module sees the event
          // once, whole, with its last part.
          if (std::optional<protocol::Notify> whole = crl_parts.add(protocol::decode_notify(message))) {
            exit_module->notify(*whole);
          }
        } catch (const protocol::ProtocolError&) {
          throw;
        } catch (const std::exception& error) {
          // Not published: no ack, and the engine delivers it again later.
          die(kPublishFailed, error.what());
        }
        return protocol::encode_ack();
      });
}
