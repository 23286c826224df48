// The walls around one module, put up by custos-module-host before the
// module reads its first frame, in the order OpenSSH's privilege separation
// taught: namespaces (user, network, mount, pid, ipc) where the kernel
// allows them, a read-only view of the filesystem holding only what the
// module needs, an unprivileged uid when started as root, rlimits, no new
// privileges, no core dumps — and last, once the module is loaded, the
// seccomp allow-list (seccomp_policy.h).
//
//   SandboxReport report = enter_sandbox(options);   // may fork: see below
//   … load the module …
//   install_seccomp_filter(kind, options.network);
//
// A sandbox that cannot be applied fully is an error when
// `require_namespaces` is set; otherwise what is missing is reported.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/directory_quota.h"
#include "sandbox/network_relay.h"

namespace custos::host {

struct SandboxOptions {
  bool require_namespaces = false;
  bool network = false;  // keep the engine's network namespace (the LDAP exit module)
  // Or, in a network namespace of its own, these destinations and nothing
  // else (network_relay.h).
  std::vector<Destination> destinations;
  // Files the module reads, made visible read-only at their own paths: an
  // exec: module's program and interpreter, a shared-object module.
  std::vector<std::filesystem::path> readable_files;
  // Directories made visible read-only at their own paths: an interpreter's
  // standard library, the directory of a module's script.
  std::vector<std::filesystem::path> readable_directories;
  // Directories that must not be seen, nor any directory holding them (the
  // CA directory): a readable directory at or above one is left out.
  std::vector<std::filesystem::path> hidden_directories;
  // The one directory the module may write (the file exit module's), at its
  // own path.
  std::optional<std::filesystem::path> writable_directory;
  // What the writable directory may hold in all; the module is stopped
  // (status 11) when a write takes it past (directory_quota.h).
  std::optional<DirectoryLimit> directory_limit;
  // RLIMIT_NOFILE: a module needs a handful; the HTTP front end one per
  // connection it serves.
  unsigned long max_open_files = 64;
};

struct SandboxReport {
  std::vector<std::string> namespaces;  // "user", "net", "mount", "pid", "ipc"
  std::vector<std::string> missing;
  bool filesystem_view = false;  // pivoted into the read-only view
  unsigned uid = 0;              // the uid the module runs as (outside any user namespace)
  // With a pid namespace, this process's end of a channel to its waiting
  // parent, the supervisor: hand it to report_forbidden_calls_to
  // (seccomp_policy.h) before the module's filter, or close it. -1 without.
  int supervisor = -1;
  std::string describe() const;  // one line for the log
};

// Applies everything but seccomp and the address-space limit. With a pid
// namespace the host forks: the parent only waits and passes the child's
// exit status (or signal) on; enter_sandbox returns in the child. Exits
// with status 6 and one line on stderr when the sandbox cannot be applied
// as required.
SandboxReport enter_sandbox(const SandboxOptions& options);

// The address-space limit, applied last before the module runs (an
// AddressSanitizer build of the host cannot live under it, so the host
// skips it for built-in modules there).
void limit_address_space();

constexpr int kSandboxRefused = 6;
// The supervisor stopped the module for a call on the filter's kill-list
// (its name is on stderr).
constexpr int kForbiddenCall = 10;
// The supervisor stopped the module: its writable directory outgrew its
// limit.
constexpr int kDirectoryFull = 11;

}  // namespace custos::host
