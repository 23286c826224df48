// Starting a helper process the way Custos starts every one it runs (the
// module hosts, the HTTP front end): nothing of the parent's reaches it but
// what is named here.
//
//   pid_t pid = spawn_isolated({.arguments = {host, "builtin:profiles"}, .inherited = {socket}});
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace custos {

struct SpawnSpec {
  std::vector<std::string> arguments;  // arguments[0] is the program's path
  std::vector<int> inherited;          // become the child's fds 3, 4, … in this order
  std::optional<std::filesystem::path> stderr_file;  // appended to (0600); else stderr is shared
  std::optional<int> stderr_descriptor;              // the child's stderr (a pipe the parent reads)
  std::vector<std::string> environment;              // NAME=VALUE, beside PATH and LANG
};

// posix_spawn with a clean environment (PATH, LANG and what the spec names), stdin and
// stdout on /dev/null, the inherited descriptors on 3…, every other one
// closed, an empty signal mask and a process group of its own (so it can
// be killed as a group). The caller keeps and closes its copies of the
// inherited descriptors. Returns the pid; throws custos::Error naming the
// program.
pid_t spawn_isolated(const SpawnSpec& spec);

// For a process that will hold a secret (a PIN, the database key, a TLS
// key): no core file (RLIMIT_CORE 0) and not dumpable, so neither a crash
// nor another process of the same uid (ptrace, /proc/PID/mem) reads its
// memory. Call it first thing in main. Throws custos::Error if the kernel
// refuses.
void forbid_core_dumps();

// How a child ended (a waitpid status), for a log line: "exited with
// status N", "was killed by the sandbox for a forbidden system call
// (SIGSYS)" or "was killed by signal N (name)".
std::string describe_exit(int status);

// This process as no other, on this host or any, now or after a reboot:
// "HOST/BOOT_ID/PID/START_TIME" (start time in clock ticks since boot).
std::string process_identity();
// Whether the process `identity` names runs now. A process on another host
// cannot be seen from here: nullopt.
std::optional<bool> process_running(const std::string& identity);

}  // namespace custos
