#include "sandbox/seccomp_policy.h"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "sandbox/descriptor_passing.h"
#include "sandbox/sandbox.h"

namespace custos::host {
namespace {

struct Allowed {
  const char* name;
  const char* reason;
};

// What any module needs to answer the engine.
const std::vector<Allowed> kCommon = {
    {"read", "frames from the engine"},
    {"write", "frames to the engine; stderr for the engine's log"},
    {"readv", "stdio reads"},
    {"writev", "stdio writes"},
    {"recvfrom", "frames from the engine (socket)"},
    {"sendto", "frames to the engine (socket, MSG_NOSIGNAL)"},
    {"recvmsg", "frames from the engine (socket)"},
    {"sendmsg", "frames to the engine (socket)"},
    {"poll", "waiting for the engine's next frame"},
    {"ppoll", "waiting for the engine's next frame"},
    {"close", "closing what it opened"},
    {"lseek", "stdio"},
    {"fstat", "stdio buffering decisions"},
    {"newfstatat", "stdio buffering decisions"},
    {"munmap", "memory management"},
    {"brk", "memory management"},
    {"mremap", "memory management"},
    {"madvise", "memory management"},
    {"futex", "locks in the C and C++ runtimes"},
    {"clock_gettime", "time"},
    {"clock_getres", "time"},
    {"gettimeofday", "time"},
    {"nanosleep", "sleeping"},
    {"clock_nanosleep", "sleeping"},
    {"getrandom", "randomness for hashing and crypto libraries"},
    {"getpid", "runtime bookkeeping"},
    {"gettid", "runtime bookkeeping"},
    {"rt_sigreturn", "returning from a signal handler"},
    {"restart_syscall", "the kernel resumes a poll, futex wait or sleep a stop/continue interrupted"},
    {"rt_sigprocmask", "signal masks in the runtimes"},
    {"rt_sigaction", "runtimes install handlers (Python, sanitizers)"},
    {"sigaltstack", "runtimes set alternate signal stacks"},
    {"sched_yield", "runtime spin locks"},
    {"exit", "ending a thread"},
    {"exit_group", "ending the module"},
#if defined(__SANITIZE_ADDRESS__)
    {"pipe2", "AddressSanitizer builds only: it probes memory through a pipe"},
#endif
};

// What a loader needs as a program or shared object starts (the dynamic loader, an
// interpreter reading its own files) and runs.
const std::vector<Allowed> kExec = {
    {"arch_prctl", "thread-local storage at program start"},
    {"set_tid_address", "thread start-up in the C runtime"},
    {"set_robust_list", "thread start-up in the C runtime"},
    {"rseq", "restartable sequences in the C runtime"},
    {"getrlimit", "the runtime reads its limits"},
    {"pread64", "the loader reads ELF headers"},
    {"access", "the loader and interpreters probe files in the view"},
    {"faccessat", "the loader and interpreters probe files in the view"},
    {"faccessat2", "the loader and interpreters probe files in the view"},
    {"stat", "interpreters stat their files"},
    {"lstat", "interpreters stat their files"},
    {"statx", "interpreters stat their files"},
    {"readlink", "interpreters resolve their own path"},
    {"readlinkat", "interpreters resolve their own path"},
    {"getdents64", "interpreters list their library directories"},
    {"getcwd", "interpreters find their working directory"},
    {"dup", "stdio set-up"},
    {"dup2", "stdio set-up"},
    {"dup3", "stdio set-up"},
    {"uname", "runtime start-up"},
    {"getuid", "runtime start-up"},
    {"geteuid", "runtime start-up"},
    {"getgid", "runtime start-up"},
    {"getegid", "runtime start-up"},
    {"sysinfo", "runtime start-up (memory size)"},
    {"sched_getaffinity", "runtime start-up (CPU count)"},
    {"mprotect", "the loader maps libraries (PROT_EXEC of files in the read-only view)"},
    {"epoll_create1", "event loops (libuv in Node, Go's poller, Python's selectors): they reach only its own descriptors"},
    {"epoll_ctl", "event loops"},
    {"epoll_wait", "event loops"},
    {"epoll_pwait", "event loops"},
    {"epoll_pwait2", "event loops"},
    {"eventfd2", "an event loop wakes itself"},
    {"pipe2", "a runtime's self-pipe"},
    {"getsockname", "a runtime asks what its stdin is (Node: a socket)"},
    {"getpeername", "a runtime asks what its stdin is"},
    {"getsockopt", "a runtime asks what its stdin is (SO_TYPE)"},
    {"shutdown", "a runtime ends its side of the engine's socket"},
};

// Writing a file into place in the one writable directory.
const std::vector<Allowed> kFiles = {
    {"rename", "renaming a written file into place"},
    {"renameat", "renaming a written file into place"},
    {"renameat2", "renaming a written file into place"},
    {"unlink", "removing a half-written file"},
    {"unlinkat", "removing a half-written file"},
    {"fsync", "writing a file durably"},
    {"fchmod", "a published file's mode"},
};

// The LDAP exit module reaches its directory server.
const std::vector<Allowed> kNetwork = {
    {"connect", "a connection to the directory server"},
    {"getsockopt", "socket status"},
    {"setsockopt", "socket options"},
    {"getsockname", "socket addresses"},
    {"getpeername", "socket addresses"},
    {"shutdown", "closing the connection"},
    {"sendmmsg", "resolving names (glibc sends DNS queries in pairs)"},
    {"recvmmsg", "resolving names"},
    {"uname", "the client library names its host"},
    {"getuid", "the client library looks for the user's settings"},
    {"geteuid", "the client library looks for the user's settings"},
    {"getgid", "the client library looks for the user's settings"},
    {"getegid", "the client library looks for the user's settings"},
};

// The HTTP front end serves the connections it accepts on the sockets it
// bound before the filter, on worker threads it starts after it.
const std::vector<Allowed> kServer = {
    {"accept", "a client's connection"},
    {"accept4", "a client's connection"},
    {"getsockname", "socket addresses"},
    {"getpeername", "the client's address for the log"},
    {"getsockopt", "socket status"},
    {"shutdown", "closing a connection"},
    {"select", "waiting for a client (the HTTP library may be built with select)"},
    {"pselect6", "waiting for a client"},
    {"rt_sigtimedwait", "the stopper thread waits for SIGTERM"},
    {"set_robust_list", "thread start-up in the C runtime"},
    {"rseq", "thread start-up in the C runtime"},
    {"sched_getaffinity", "a thread's attributes (its stack, for the sanitizers)"},
};

// What no module may do, whatever else it is refused: the calls that
// change namespaces, mounts or other processes, reach the kernel's attack
// surface (BPF, keyrings, io_uring, userfaultfd, perf), or change the
// machine. Each kills the module; anything else outside the allow-lists
// fails with EPERM, so a runtime that probes (Python's epoll at import)
// falls back, as under systemd's SystemCallErrorNumber=.
const std::vector<Allowed> kKillList = {
    {"unshare", "new namespaces"},
    {"setns", "entering other namespaces"},
    {"mount", "mounts"},
    {"umount2", "mounts"},
    {"pivot_root", "mounts"},
    {"chroot", "the root directory"},
    {"fsopen", "mounts (new API)"},
    {"fsconfig", "mounts (new API)"},
    {"fsmount", "mounts (new API)"},
    {"fspick", "mounts (new API)"},
    {"move_mount", "mounts (new API)"},
    {"open_tree", "mounts (new API)"},
    {"mount_setattr", "mounts (new API)"},
    {"ptrace", "other processes' memory and registers"},
    {"process_vm_readv", "other processes' memory"},
    {"process_vm_writev", "other processes' memory"},
    {"pidfd_getfd", "other processes' descriptors"},
    {"kcmp", "comparing other processes' resources"},
    {"bpf", "kernel attack surface"},
    {"keyctl", "kernel keyrings"},
    {"add_key", "kernel keyrings"},
    {"request_key", "kernel keyrings"},
    {"io_uring_enter", "kernel attack surface, and system calls seccomp does not see"},
    {"io_uring_register", "kernel attack surface"},
    {"userfaultfd", "kernel attack surface"},
    {"perf_event_open", "kernel attack surface"},
    {"init_module", "kernel modules"},
    {"finit_module", "kernel modules"},
    {"delete_module", "kernel modules"},
    {"kexec_load", "replacing the kernel"},
    {"kexec_file_load", "replacing the kernel"},
    {"reboot", "the machine"},
    {"swapon", "the machine"},
    {"swapoff", "the machine"},
    {"acct", "the machine"},
    {"settimeofday", "the clock"},
    {"clock_settime", "the clock"},
    {"clock_adjtime", "the clock"},
    {"adjtimex", "the clock"},
    {"open_by_handle_at", "files outside the view"},
    {"name_to_handle_at", "files outside the view"},
    {"iopl", "hardware ports"},
    {"ioperm", "hardware ports"},
    {"quotactl", "the machine"},
    {"syslog", "the kernel log"},
    {"personality", "disabling address-space randomisation"},
    {"modify_ldt", "kernel attack surface"},
    {"lookup_dcookie", "kernel attack surface"},
    {"vhangup", "terminals"},
    {"uselib", "obsolete loader"},
    {"move_pages", "other processes' memory"},
    {"migrate_pages", "other processes' memory"},
};

struct FilterDeleter {
  void operator()(scmp_filter_ctx filter) const { seccomp_release(filter); }
};

[[noreturn]] void fail(const char* what, int error) {
  std::fprintf(stderr, "%s: sandbox: %s (%d)\n", program_invocation_short_name, what, error);
  std::_Exit(kSandboxRefused);
}

void allow_all(scmp_filter_ctx filter, const std::vector<Allowed>& list) {
  for (const Allowed& entry : list) {
    int number = seccomp_syscall_resolve_name(entry.name);
    if (number == __NR_SCMP_ERROR) continue;  // not on this architecture
    int error = seccomp_rule_add(filter, SCMP_ACT_ALLOW, number, 0);
    if (error != 0) fail(entry.name, error);
  }
}

void add(scmp_filter_ctx filter, std::uint32_t action, int number, unsigned count, const scmp_arg_cmp* arguments,
         const char* what) {
  int error = seccomp_rule_add_array(filter, action, number, count, arguments);
  if (error != 0) fail(what, error);
}

using Filter = std::unique_ptr<void, FilterDeleter>;

// A filter that takes `otherwise` on anything not added to it, with what
// every sandboxed process needs (kCommon).
Filter new_filter(std::uint32_t otherwise) {
  Filter filter(seccomp_init(otherwise));
  if (!filter) fail("seccomp_init failed", 0);
  // A system call of another architecture (x32, i386 on x86_64) is killed too.
  seccomp_attr_set(filter.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  // Every thread, including any a shared object's constructor started.
  if (seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_TSYNC, 1) != 0) fail("seccomp TSYNC unavailable", 0);
  // no_new_privs is already set (sandbox.cpp); a stacked filter may not
  // call prctl to set it again.
  seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, 0);
  allow_all(filter.get(), kCommon);
  return filter;
}

// Signals, limits and descriptor flags only for itself: with no pid
// namespace the engine shares its uid, and must not be signalled,
// limited, or have its database lock held.
void allow_only_for_itself(scmp_filter_ctx filter) {
  scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid()));
  add(filter, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &self, "abort() raising SIGABRT on itself");
  scmp_arg_cmp own_limits = SCMP_A0(SCMP_CMP_EQ, 0);
  add(filter, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, &own_limits, "the runtime reads its own limits");
  for (scmp_datum_t command : {F_GETFD, F_SETFD, F_GETFL, F_DUPFD, F_DUPFD_CLOEXEC}) {
    scmp_arg_cmp allowed = SCMP_A1(SCMP_CMP_EQ, command);
    add(filter, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, &allowed, "descriptor flags");
  }
  scmp_arg_cmp set_flags[] = {SCMP_A1(SCMP_CMP_EQ, F_SETFL), SCMP_A2(SCMP_CMP_MASKED_EQ, O_ASYNC, 0)};
  add(filter, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2, set_flags, "status flags, without O_ASYNC's signals");
}

// Anonymous memory, never executable: no code but what was mapped before
// the filter.
void allow_memory_without_exec(scmp_filter_ctx filter) {
  scmp_arg_cmp no_exec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
  add(filter, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &no_exec, "mmap without PROT_EXEC");
  add(filter, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &no_exec, "mprotect without PROT_EXEC");
}

// Clean failures where runtimes probe as they run: a file (spdlog looks
// for /etc/localtime), a local socket (glibc's nscd), a terminal.
void refuse_files(scmp_filter_ctx filter) {
  add(filter, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0, nullptr, "openat refused");
  add(filter, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0, nullptr, "open refused");
}

void load(scmp_filter_ctx filter) {
  int error = seccomp_load(filter);
  if (error != 0) fail("seccomp_load failed", error);
}

// Where the next filter's listener goes; -1 once it went, or with no
// supervisor (a process can have only one listener).
int supervisor_channel = -1;

// Sends `listener` to the supervisor and closes both here.
void hand_over(int listener) {
  if (!send_descriptor(supervisor_channel, 'L', listener)) fail("cannot hand the listener to the supervisor", errno);
  ::close(listener);
  ::close(supervisor_channel);
  supervisor_channel = -1;
}

}  // namespace

void report_forbidden_calls_to(int supervisor) { supervisor_channel = supervisor; }

std::string forbidden_call(int listener) {
  seccomp_notif* request = nullptr;
  seccomp_notif_resp* response = nullptr;
  if (seccomp_notify_alloc(&request, &response) != 0) return {};
  std::string name;
  if (seccomp_notify_receive(listener, request) == 0) {
    char* resolved = seccomp_syscall_resolve_num_arch(request->data.arch, request->data.nr);
    name = std::string(resolved != nullptr ? resolved : "an unknown call") + " (" + std::to_string(request->data.nr) + ")";
    std::free(resolved);
  }
  seccomp_notify_free(request, response);
  return name;
}

void install_seccomp_filter(ModuleKind kind, bool network, bool writes_files) {
  Filter filter = new_filter(SCMP_ACT_ERRNO(EPERM));
  const bool supervised = supervisor_channel >= 0;
  const std::uint32_t forbidden = supervised ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS;
  for (const Allowed& entry : kKillList) {
    int number = seccomp_syscall_resolve_name(entry.name);
    if (number != __NR_SCMP_ERROR) add(filter.get(), forbidden, number, 0, nullptr, entry.name);
  }
  // clone: a thread, or a new process (which fails, EPERM); a new
  // namespace kills. clone3 hides its flags from the filter: it answers
  // ENOSYS and the C runtime falls back to clone.
  for (scmp_datum_t flag : {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                            CLONE_NEWNET}) {
    scmp_arg_cmp new_namespace = SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag);
    add(filter.get(), forbidden, SCMP_SYS(clone), 1, &new_namespace, "clone into a new namespace");
  }
  add(filter.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, nullptr, "clone3: the runtime falls back to clone");
  // No io_uring ring can be made (its calls would pass beneath the filter);
  // libuv and others probe for one and fall back on ENOSYS.
  add(filter.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_setup), 0, nullptr, "io_uring_setup: no ring");
  const bool loads_code = kind == ModuleKind::kExec || kind == ModuleKind::kLoader;

  if (loads_code) allow_all(filter.get(), kExec);
  if (kind == ModuleKind::kLoader) {
    // The in-host filter is stacked on this one once the library is loaded;
    // a filter can only ever take more away.
    add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 0, nullptr, "stacking the in-host filter");
  }
  if (kind == ModuleKind::kExec) {
    // Its own program; the filter stays on whatever it runs.
    add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(execve), 0, nullptr, "starting the module's program");
    // Threads (a runtime's worker threads), never a new namespace.
    constexpr scmp_datum_t kNewNamespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                             CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
    scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | kNewNamespaces, CLONE_THREAD);
    add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread, "a thread of the module's runtime");
    // A connected pair of local sockets reaches nothing outside the module:
    // asyncio's event loop wakes itself through one.
    scmp_arg_cmp local = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
    add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, &local, "a runtime's self-pipe (asyncio)");
  }
  if (network) {
    allow_all(filter.get(), kNetwork);
    // Internet sockets only: no netlink, no abstract Unix sockets of the
    // host's network namespace.
    for (scmp_datum_t family : {AF_INET, AF_INET6}) {
      scmp_arg_cmp internet = SCMP_A0(SCMP_CMP_EQ, family);
      add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &internet, "a connection to the directory server");
    }
  }

  allow_only_for_itself(filter.get());

  // mmap: anonymous memory for any module; executable mappings only while
  // a loader maps files of the read-only view.
  if (loads_code) {
    add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(mmap), 0, nullptr, "mmap");
  } else {
    allow_memory_without_exec(filter.get());
  }

  // open: a module without files to open gets EACCES, a clean failure. An
  // exec: module reads what its view holds; the file exit module writes in
  // its one directory. Where a file may be written, the mounts decide: the
  // view is read-only but for that directory.
  if (loads_code || writes_files) {
    constexpr scmp_datum_t kWriting = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;
    scmp_arg_cmp read_only = SCMP_A2(SCMP_CMP_MASKED_EQ, kWriting, 0);
    add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, &read_only, "openat for reading");
    if (writes_files) {
      scmp_arg_cmp write_only = SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY);
      add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, &write_only, "openat for writing");
      allow_all(filter.get(), kFiles);
    } else {
      scmp_arg_cmp write_only = SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY);
      add(filter.get(), SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1, &write_only, "no writing without its directory");
    }
  } else {
    refuse_files(filter.get());
  }
  // Without the network, socket() fails cleanly: runtimes probe for local
  // services as they start (glibc's user lookup tries nscd), and a module
  // that really wants a connection learns it has none.
  if (!network) {
    add(filter.get(), SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0, nullptr, "socket refused");
  } else {
    scmp_arg_cmp local = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
    add(filter.get(), SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, &local, "local sockets refused (nscd probes)");
  }
  if (loads_code) {
    scmp_arg_cmp terminal_query = SCMP_A1(SCMP_CMP_EQ, TCGETS);
    add(filter.get(), SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 1, &terminal_query, "isatty(): not a terminal");
    for (unsigned long request : {FIOCLEX, FIONCLEX, FIONBIO, FIONREAD}) {
      scmp_arg_cmp descriptor_flag = SCMP_A1(SCMP_CMP_EQ, request);
      add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &descriptor_flag,
          "close-on-exec, non-blocking mode, bytes waiting: Python sets and reads these on its own descriptors");
    }
  }

  load(filter.get());
  if (supervised) {
    int listener = seccomp_notify_fd(filter.get());
    if (listener < 0) fail("the filter has no listener", listener);
    hand_over(listener);
  }
}

void install_front_end_filter() {
  Filter filter = new_filter(SCMP_ACT_KILL_PROCESS);
  allow_all(filter.get(), kServer);
  allow_only_for_itself(filter.get());
  allow_memory_without_exec(filter.get());
  refuse_files(filter.get());

  // Worker threads, and nothing else clone() makes: no new process, no new
  // namespace. clone3 passes its flags in memory a filter cannot read, so
  // it fails as if the kernel had none, and the C runtime falls back to
  // clone.
  constexpr scmp_datum_t kNewNamespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                           CLONE_NEWPID | CLONE_NEWNET;
  scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | kNewNamespaces, CLONE_THREAD);
  add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread, "starting a worker thread");
  add(filter.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, nullptr, "clone3: the runtime falls back to clone");
  // No io_uring ring can be made (its calls would pass beneath the filter);
  // libuv and others probe for one and fall back on ENOSYS.
  add(filter.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_setup), 0, nullptr, "io_uring_setup: no ring");

  // The server ends itself with SIGTERM (its stopper thread waits for it).
  scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid()));
  add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &self, "signalling itself to stop");

  // Options on the connections it serves: the read and write timeouts
  // (both encodings of SO_RCVTIMEO/SO_SNDTIMEO) and TCP_NODELAY. Any other
  // option — a BPF socket filter, say — kills it (a rule of its own for
  // "anything else" would take precedence over these).
  const std::pair<scmp_datum_t, scmp_datum_t> kSocketOptions[] = {
      {SOL_SOCKET, SO_RCVTIMEO_OLD}, {SOL_SOCKET, SO_SNDTIMEO_OLD}, {SOL_SOCKET, SO_RCVTIMEO_NEW},
      {SOL_SOCKET, SO_SNDTIMEO_NEW}, {IPPROTO_TCP, TCP_NODELAY}};
  for (auto [level, option] : kSocketOptions) {
    scmp_arg_cmp allowed[] = {SCMP_A1(SCMP_CMP_EQ, level), SCMP_A2(SCMP_CMP_EQ, option)};
    add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 2, allowed, "timeouts and TCP_NODELAY");
  }

  // Every socket it needs was made before the filter: a new one fails
  // cleanly, and connecting anywhere kills it (no rule).
  add(filter.get(), SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0, nullptr, "no new sockets");
  add(filter.get(), SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0, nullptr, "isatty(): not a terminal");
  load(filter.get());
}

}  // namespace custos::host
