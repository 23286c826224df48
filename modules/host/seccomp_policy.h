// The seccomp-bpf allow-list of a module host, built with libseccomp and
// installed after the module is loaded and before the first frame is read.
// Everything not listed kills the whole process (SCMP_ACT_KILL_PROCESS),
// as does a system call of another architecture. Each entry says why it is
// there (seccomp_policy.cpp).
#pragma once

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

}  // namespace custos::host
