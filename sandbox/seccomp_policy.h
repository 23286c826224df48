// The seccomp-bpf filters of a module host, built with libseccomp and
// installed after the module is loaded and before the first frame is read,
// and of the HTTP front end, installed once its sockets are bound. Each
// entry says why it is there (seccomp_policy.cpp).
//
// A module's filter allows what its kind needs, kills on a short list of
// dangerous calls, and fails anything else with EPERM. When the host has a
// supervisor (the waiting parent of sandbox.cpp), a dangerous call is not
// killed by the kernel but reported to the supervisor through a seccomp
// listener, which names the call on stderr and kills the module: so the
// engine can tell the module's author which call it was. The front end's
// filter kills anything not listed. Both kill a system call of another
// architecture.
#pragma once

#include <string>

namespace custos::host {

enum class ModuleKind {
  kInHost,  // built-in or shared-object module: runs in the host's own code
  kExec,    // exec: module: the host exec()s it after installing the filter
  kLoader,  // while a shared-object module is loaded: the loader's needs, and
            // nothing its constructors could use to get out (no exec, no
            // fork, no new namespaces); kInHost is stacked on it after
};

// Installs the filter for `kind`, on every thread of the process. With
// `network`, the socket calls an LDAP client needs are allowed; with
// `writes_files` (a module with a writable directory inside a read-only
// view), opening files for writing and renaming them — where, the mounts
// decide. Exits the host (status 6) when the filter cannot be installed: a
// module never runs half-sandboxed.
void install_seccomp_filter(ModuleKind kind, bool network, bool writes_files);

// The supervisor's end of a socket (sandbox.cpp): the first filter
// installed afterwards sends its listener there, instead of killing on a
// dangerous call.
void report_forbidden_calls_to(int supervisor);

// For the supervisor: reads one notification from `listener` and returns
// the system call it names ("ptrace (101)"); empty if none could be read.
std::string forbidden_call(int listener);

// The HTTP front end's filter (custos-http), on every thread: I/O on the
// sockets it already holds (the listeners, the connections it accepts, its
// channels to the engine), worker threads, memory that is never
// executable, signals to itself. It opens no file, makes no socket,
// connects nowhere, starts no process and executes nothing. Exits (status
// 6) when the filter cannot be installed.
void install_front_end_filter();

}  // namespace custos::host
