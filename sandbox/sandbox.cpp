#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "sandbox/descriptor_passing.h"
#include "sandbox/directory_quota.h"
#include "sandbox/network_relay.h"
#include "sandbox/seccomp_policy.h"

namespace custos::host {
namespace {

constexpr unsigned kNobody = 65534;
constexpr rlim_t kMaxFileBytes = 16 << 20;
constexpr rlim_t kMaxCpuSeconds = 300;
constexpr rlim_t kMaxAddressSpace = rlim_t{1} << 30;
// Where the new root is assembled: a tmpfs mounted over /tmp in the host's
// own mount namespace (nobody else sees it), filled through O_PATH
// descriptors opened before /tmp was covered.
constexpr char kNewRoot[] = "/tmp";

[[noreturn]] void refuse(const std::string& message) {
  std::fprintf(stderr, "custos-module-host: sandbox: %s\n", message.c_str());
  std::_Exit(kSandboxRefused);
}

std::string errno_text() { return std::strerror(errno); }

// Writes one of this process's /proc files through `proc_self`, a
// descriptor of /proc/self that outlives the pivot into the view.
void write_proc_file(int proc_self, const char* name, const std::string& text) {
  int fd = ::openat(proc_self, name, O_WRONLY | O_CLOEXEC);
  if (fd < 0) refuse(std::string("cannot open /proc/self/") + name + ": " + errno_text());
  ssize_t written = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size())) {
    refuse(std::string("cannot write /proc/self/") + name + ": " + errno_text());
  }
}

void make_directories(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) refuse("cannot create " + path.string() + ": " + error.message());
}

// Binds what `source_fd` (an O_PATH descriptor) names at `target` inside the
// new root, read-only unless `writable`.
void bind(int source_fd, const std::filesystem::path& target, bool directory, bool writable) {
  std::filesystem::path inside = std::filesystem::path(kNewRoot) / target.relative_path();
  if (directory) {
    make_directories(inside);
  } else {
    make_directories(inside.parent_path());
    int fd = ::open(inside.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) refuse("cannot create " + inside.string() + ": " + errno_text());
    ::close(fd);
  }
  std::string source = "/proc/self/fd/" + std::to_string(source_fd);
  if (::mount(source.c_str(), inside.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    refuse("cannot bind " + target.string() + ": " + errno_text());
  }
  // In a user namespace the kernel refuses to clear a flag the mount had
  // where it came from (nodev, noexec, ro: systemd's PrivateDevices /dev is
  // ro and noexec): the remount keeps them and only adds its own. A device
  // node is written through a read-only mount all the same, so /dev/null
  // stays writable on one.
  struct statvfs current {};
  struct stat kind {};
  if (::statvfs(inside.c_str(), &current) != 0 || ::fstat(source_fd, &kind) != 0) {
    refuse("cannot read the flags of " + target.string() + ": " + errno_text());
  }
  bool device = S_ISCHR(kind.st_mode) || S_ISBLK(kind.st_mode);
  bool read_only = !writable || (device && (current.f_flag & ST_RDONLY) != 0);
  unsigned long kept = ((current.f_flag & ST_NODEV) != 0 ? MS_NODEV : 0) | ((current.f_flag & ST_NOEXEC) != 0 ? MS_NOEXEC : 0);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | kept | (read_only ? MS_RDONLY : 0) |
                        (directory && writable ? MS_NOEXEC : 0);
  if (::mount(nullptr, inside.c_str(), nullptr, flags, nullptr) != 0) {
    refuse("cannot make " + target.string() + (writable ? " writable" : " read-only") + ": " + errno_text());
  }
}

struct Visible {
  std::filesystem::path path;
  bool directory;
  bool writable;
  int fd;
};

// What the read-only view will hold, opened (O_PATH) while the host still
// has its own identity: the shared libraries, the few device nodes a
// runtime opens, the module's own files and its one writable directory. No
// /proc, no /etc beyond the loader cache, no /home, no CA directory, no
// token store.
std::vector<Visible> open_view(const SandboxOptions& options) {
  std::vector<Visible> visible;
  auto add = [&](const std::filesystem::path& path, bool directory, bool writable) {
    // Each place once: a path at or beneath a directory already in the
    // view is there already (binding it again would write into a
    // read-only mount).
    auto covers = [&](const Visible& entry) {
      if (entry.path == path) return true;
      if (!entry.directory) return false;
      auto [mismatch, rest] = std::mismatch(entry.path.begin(), entry.path.end(), path.begin(), path.end());
      return mismatch == entry.path.end();
    };
    if (!writable && std::any_of(visible.begin(), visible.end(), covers)) return;
    int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
    if (fd >= 0) visible.push_back({path, directory, writable, fd});
  };
  add("/usr/lib", true, false);
  add("/usr/lib64", true, false);
  add("/etc/ld.so.cache", false, false);
  add("/dev/null", false, true);
  add("/dev/urandom", false, false);
  if (!options.destinations.empty()) {
    // The system's trusted certificates, for TLS to the destinations.
    add("/etc/ssl", true, false);
    add("/usr/share/ca-certificates", true, false);
  }
  for (const std::filesystem::path& file : options.readable_files) {
    std::filesystem::path canonical = std::filesystem::weakly_canonical(file);
    add(canonical, false, false);
    if (canonical != file) add(file, false, false);
  }
  for (const std::filesystem::path& directory : options.readable_directories) {
    std::filesystem::path canonical = std::filesystem::weakly_canonical(directory);
    // Never a directory that is, or holds, one the engine keeps private
    // (the CA directory): a module script kept there gets its own file
    // in the view, not its neighbours.
    bool private_inside = std::any_of(options.hidden_directories.begin(), options.hidden_directories.end(),
                                      [&](const std::filesystem::path& hidden) {
                                        std::filesystem::path kept = std::filesystem::weakly_canonical(hidden);
                                        auto [mismatch, rest] = std::mismatch(canonical.begin(), canonical.end(),
                                                                              kept.begin(), kept.end());
                                        return mismatch == canonical.end();
                                      });
    if (!private_inside) add(canonical, true, false);
  }
  if (options.writable_directory) {
    // The engine made it beneath the CA directory; a symlink put in its
    // place since is not followed.
    int fd = ::open(options.writable_directory->c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) refuse("cannot open the writable directory " + options.writable_directory->string() + ": " + errno_text());
    visible.push_back({*options.writable_directory, true, true, fd});
  }
  return visible;
}

// `hosts`, when not empty, becomes the view's /etc/hosts, with an
// nsswitch.conf that resolves names from it alone.
void build_filesystem_view(const std::vector<Visible>& visible, const std::string& hosts) {
  // Our mounts stay ours, and nothing mounted later leaks back.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) refuse("cannot make / private: " + errno_text());
  if (::mount("tmpfs", kNewRoot, "tmpfs", MS_NOSUID, "size=1m,mode=0755") != 0) {
    refuse("cannot mount the sandbox's root: " + errno_text());
  }
  for (const Visible& entry : visible) {
    bind(entry.fd, entry.path, entry.directory, entry.writable);
    // Each descriptor still names the old root, from which ".." climbs out
    // of the view: none may outlive the bind.
    ::close(entry.fd);
  }
  // The loader and interpreters find libraries through /lib and /lib64.
  std::filesystem::path root(kNewRoot);
  std::error_code ignored;
  std::filesystem::create_directory_symlink("usr/lib", root / "lib", ignored);
  std::filesystem::create_directory_symlink("usr/lib64", root / "lib64", ignored);
  make_directories(root / "empty");  // the module's working directory
  if (!hosts.empty()) {
    make_directories(root / "etc");
    for (const auto& [name, text] : {std::pair{"hosts", hosts}, std::pair{"nsswitch.conf", std::string("hosts: files\n")}}) {
      int fd = ::open((root / "etc" / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        refuse(std::string("cannot write the view's /etc/") + name + ": " + errno_text());
      }
      ::close(fd);
    }
  }

  if (::chdir(kNewRoot) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 || ::umount2(".", MNT_DETACH) != 0 ||
      ::chdir("/") != 0) {
    refuse("cannot pivot into the sandbox's root: " + errno_text());
  }
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID, nullptr) != 0) {
    refuse("cannot make the sandbox's root read-only: " + errno_text());
  }
  if (::chdir("/empty") != 0) refuse("cannot enter the empty working directory: " + errno_text());
}

const std::vector<std::pair<int, const char*>> kNamespaces = {
    {CLONE_NEWUSER, "user"}, {CLONE_NEWNS, "mount"}, {CLONE_NEWPID, "pid"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWNET, "net"}};

// All at once; where the kernel refuses that, each alone. Returns the flags
// of the namespaces entered.
int try_unshare(int flags) {
  if (::unshare(flags) == 0) return flags;
  int got = 0;
  // The user namespace first: it may be what lets the others be made.
  for (const auto& [flag, name] : kNamespaces) {
    if ((flags & flag) != 0 && ::unshare(flag) == 0) got |= flag;
  }
  return got;
}

// Inside, root; outside, the same unprivileged uid and gid.
void map_ids(int proc_self, uid_t uid, gid_t gid) {
  write_proc_file(proc_self, "setgroups", "deny");
  write_proc_file(proc_self, "uid_map", "0 " + std::to_string(uid) + " 1\n");
  write_proc_file(proc_self, "gid_map", "0 " + std::to_string(gid) + " 1\n");
}

// A root host's waiting parent writes the module's user-namespace maps for
// it, so the module — already uid 65534 — never has to become dumpable (and
// so ptraceable by other uid-65534 processes) to write its own. The child
// asks with one byte on `request` once it has unshared; the parent answers
// '0' or '1' on `reply`. `proc` is /proc, opened before the pivot.
struct MapService {
  int request[2] = {-1, -1};
  int reply[2] = {-1, -1};
  int proc = -1;
};

// What the waiting parent watches besides its child: the channel on which
// the child's filter sends its seccomp listener, the writable directory's
// quota, the network relay.
struct Supervision {
  int channel = -1;
  DirectoryQuota* quota = nullptr;
  NetworkRelay* relay = nullptr;
};

// Receives the seccomp listener the child's filter sends; -1 when the
// channel closed without one.
int receive_listener(int channel) {
  char byte = 0;
  return receive_descriptor(channel, byte);
}

// Waits for the child, watching its seccomp listener and its writable
// directory, and relaying its connections: a call on the filter's
// kill-list, or a directory past its limit, is told on stderr (the engine
// quotes it) and the child killed. Returns the child's wait status;
// `stopped_with` is the host's exit status for the reason it was stopped,
// 0 when it was not.
int supervise(pid_t child, const Supervision& supervision, int& stopped_with) {
  int child_fd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  if (child_fd < 0) {
    // Without a pidfd (a kernel before 5.3) nothing would be watched: the
    // module does not run unsupervised.
    std::fprintf(stderr, "custos-module-host: sandbox: cannot watch the module (pidfd_open: %s)\n", std::strerror(errno));
    ::kill(child, SIGKILL);
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(kSandboxRefused);
  }
  int channel = supervision.channel;
  int listener = -1;
  auto stop = [&](const std::string& why, int status) {
    if (stopped_with != 0) return;
    std::fprintf(stderr, "custos-module-host: %s: stopped\n", why.c_str());
    stopped_with = status;
    ::kill(child, SIGKILL);
  };
  enum Entry { kChild, kChannel, kListener, kQuota, kFixed };
  while (child_fd >= 0) {
    std::vector<pollfd> watched = {{child_fd, POLLIN, 0},
                                   {channel, POLLIN, 0},
                                   {listener, POLLIN, 0},
                                   {supervision.quota != nullptr ? supervision.quota->descriptor() : -1, POLLIN, 0}};
    if (supervision.relay != nullptr) supervision.relay->add_to(watched);
    if (::poll(watched.data(), watched.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (watched[kChannel].revents != 0) {
      if ((watched[kChannel].revents & POLLIN) != 0) listener = receive_listener(channel);
      channel = -1;  // one listener, once
    }
    if ((watched[kQuota].revents & POLLIN) != 0) {
      if (std::optional<std::string> over = supervision.quota->take_events()) stop(*over, kDirectoryFull);
    }
    if ((watched[kListener].revents & POLLIN) != 0) {
      std::string call = forbidden_call(listener);
      if (!call.empty()) stop("the module called " + call + ", a system call the sandbox forbids", kForbiddenCall);
    } else if ((watched[kListener].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      listener = -1;
    }
    if (supervision.relay != nullptr) supervision.relay->serve(watched);
    if ((watched[kChild].revents & POLLIN) != 0) break;
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Closes every descriptor from 3 up but `kept`.
void close_all_but(std::vector<int> kept) {
  std::sort(kept.begin(), kept.end());
  unsigned from = STDERR_FILENO + 1;
  for (int fd : kept) {
    if (fd < static_cast<int>(from)) continue;
    if (static_cast<unsigned>(fd) > from) ::close_range(from, static_cast<unsigned>(fd) - 1, 0);
    from = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(from, ~0U, 0);
}

// Waits for the child that runs the module in the new pid namespace, and
// ends the same way it did, so the engine learns the module's fate.
[[noreturn]] void wait_and_pass_on(pid_t child, const MapService* service, const Supervision& supervision) {
  // Only the child talks to the engine: when it dies, the engine must see
  // the socket close. The parent keeps what it needs and closes the rest.
  std::vector<int> kept = {supervision.channel};
  if (supervision.quota != nullptr) {
    kept.insert(kept.end(), {supervision.quota->directory_descriptor(), supervision.quota->descriptor()});
  }
  if (supervision.relay != nullptr) {
    std::vector<int> relay = supervision.relay->descriptors();
    kept.insert(kept.end(), relay.begin(), relay.end());
  }
  if (service != nullptr) {
    kept.insert(kept.end(), {service->request[0], service->reply[1], service->proc});
    close_all_but(kept);
    char asked = 0;
    if (::read(service->request[0], &asked, 1) == 1) {
      std::string pid = std::to_string(child);
      bool mapped = true;
      for (const auto& [name, text] : {std::pair{"/setgroups", "deny"}, std::pair{"/uid_map", "0 65534 1\n"},
                                       std::pair{"/gid_map", "0 65534 1\n"}}) {
        int fd = ::openat(service->proc, (pid + name).c_str(), O_WRONLY | O_CLOEXEC);
        std::string value(text);
        mapped = mapped && fd >= 0 && ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
        if (fd >= 0) ::close(fd);
      }
      char answer = mapped ? '0' : '1';
      [[maybe_unused]] ssize_t written = ::write(service->reply[1], &answer, 1);
    }
    for (int fd : {service->request[0], service->reply[1], service->proc}) ::close(fd);
  } else {
    close_all_but(kept);
  }
  // It holds what the process held before the fork (custos-http's TLS
  // key): no core file, and not readable by another process of its uid.
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // A request to stop (custosd's SIGTERM to its HTTP front end) is the
  // child's to act on: it finishes what it is doing and exits.
  static pid_t waited_for = 0;
  waited_for = child;
  struct sigaction forward {};
  forward.sa_handler = [](int signal) { ::kill(waited_for, signal); };
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signal, &forward, nullptr);
  int stopped_with = 0;
  int status = supervise(child, supervision, stopped_with);
  if (stopped_with != 0) std::_Exit(stopped_with);
  if (WIFSIGNALED(status)) {
    ::signal(WTERMSIG(status), SIG_DFL);
    ::kill(::getpid(), WTERMSIG(status));
  }
  std::_Exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

// Root inside a user namespace is nobody outside, but holds every
// capability within its namespaces; the module needs none.
void drop_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &header, data) != 0) refuse("cannot drop capabilities: " + errno_text());
}

void set_limit(int resource, rlim_t value, const char* name) {
  rlimit limit{value, value};
  if (::setrlimit(resource, &limit) != 0) refuse(std::string("cannot set ") + name + ": " + errno_text());
}

}  // namespace

std::string SandboxReport::describe() const {
  auto join = [](const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
    return text.empty() ? std::string("none") : text;
  };
  return "namespaces " + join(namespaces) + (missing.empty() ? "" : " (missing: " + join(missing) + ")") +
         "; filesystem " + (filesystem_view ? "read-only view" : "the host's") + "; uid " + std::to_string(uid);
}

SandboxReport enter_sandbox(const SandboxOptions& options) {
  SandboxReport report;
  const bool root = ::geteuid() == 0;
  // Who the module is to the rest of the system. Read before the user
  // namespace is entered: inside it, unmapped, the ids read as the
  // overflow id, and a map naming that is refused.
  const uid_t outside_uid = root ? kNobody : ::geteuid();
  const gid_t outside_gid = root ? kNobody : ::getegid();

  // A host started as root makes the other namespaces as root (it can read
  // what the view must hold), drops to nobody, and only then enters a user
  // namespace of its own. An unprivileged host needs the user namespace
  // first, to own the others.
  int wanted = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | (options.network ? 0 : CLONE_NEWNET);
  int got = 0;
  // A module with a list of destinations: its dialer is started here,
  // while this process is still in the engine's network namespace.
  std::optional<NetworkRelay> relay;
  if (!options.destinations.empty() && !options.network) relay.emplace(options.destinations);
  int proc_self = ::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc_self < 0) refuse("cannot open /proc/self: " + errno_text());
  if (!root) {
    got = try_unshare(wanted | CLONE_NEWUSER);
    if ((got & CLONE_NEWUSER) != 0) map_ids(proc_self, outside_uid, outside_gid);
  } else {
    got = try_unshare(wanted);
  }

  std::string hosts;
  if (relay) {
    // The relay needs the module's own network and a waiting parent to run
    // in; without them the module would have the engine's whole network.
    if ((got & CLONE_NEWNET) == 0 || (got & CLONE_NEWPID) == 0) {
      refuse("a module with network destinations needs network and pid namespaces, and the kernel refused them");
    }
    hosts = relay->listen();
  }

  std::optional<MapService> service;
  if ((got & CLONE_NEWPID) != 0) {
    if (root) {
      service.emplace();
      service->proc = ::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (service->proc < 0 || ::pipe2(service->request, O_CLOEXEC) != 0 || ::pipe2(service->reply, O_CLOEXEC) != 0) {
        refuse("cannot prepare the user namespace maps: " + errno_text());
      }
    }
    // The writable directory's limit is kept by the waiting parent, which
    // sees the real directory before the view is built.
    std::optional<DirectoryQuota> quota;
    if (options.writable_directory && options.directory_limit) {
      quota.emplace(*options.writable_directory, *options.directory_limit);
    }
    int supervisor[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, supervisor) != 0) {
      refuse("cannot make the supervisor's channel: " + errno_text());
    }
    pid_t child = ::fork();
    if (child < 0) refuse("fork: " + errno_text());
    if (child > 0) {
      wait_and_pass_on(child, service ? &*service : nullptr,
                       {supervisor[0], quota ? &*quota : nullptr, relay ? &*relay : nullptr});
    }
    ::close(supervisor[0]);
    if (relay) relay->close_all();
    report.supervisor = supervisor[1];
    if (service) {
      ::close(service->request[0]);
      ::close(service->reply[1]);
      ::close(service->proc);
    }
    // The module dies with its waiting parent, whoever kills that.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // /proc/self was the parent's; this process is another.
    ::close(proc_self);
    proc_self = ::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (proc_self < 0) refuse("cannot open /proc/self: " + errno_text());
  }

  if ((got & CLONE_NEWNS) != 0 && (root || (got & CLONE_NEWUSER) != 0)) {
    build_filesystem_view(open_view(options), hosts);
    report.filesystem_view = true;
  }

  if (root) {
    // Nobody, permanently, groups and all.
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      refuse("cannot drop to uid " + std::to_string(kNobody) + ": " + errno_text());
    }
    if (::setuid(0) == 0) refuse("regained root after dropping it");
    // Changing uid cleared the parent-death signal: the module must still
    // die with its waiting parent.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (service) {
      // The waiting parent, still root, writes the maps: this process stays
      // non-dumpable throughout.
      if (::unshare(CLONE_NEWUSER) == 0) {
        char answer = '1';
        if (::write(service->request[1], "M", 1) == 1 && ::read(service->reply[0], &answer, 1) == 1 && answer == '0') {
          got |= CLONE_NEWUSER;
        }
      }
      ::close(service->request[1]);
      ::close(service->reply[0]);
    } else {
      // No waiting parent (no pid namespace): changing uid made the process
      // non-dumpable, which hands its /proc files to root, and it needs them
      // for its maps. It is made non-dumpable again below, for good.
      if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) refuse("PR_SET_DUMPABLE failed: " + errno_text());
      if (::unshare(CLONE_NEWUSER) == 0) {
        got |= CLONE_NEWUSER;
        map_ids(proc_self, kNobody, kNobody);
      }
    }
  }
  ::close(proc_self);
  // Root inside a user namespace is nobody outside, but holds every
  // capability within it; the module needs none.
  if ((got & CLONE_NEWUSER) != 0) drop_capabilities();
  report.uid = outside_uid;

  for (const auto& [flag, name] : kNamespaces) {
    if (flag == CLONE_NEWNET && options.network) continue;
    ((got & flag) != 0 ? report.namespaces : report.missing).push_back(name);
  }
  if (options.require_namespaces && (!report.missing.empty() || !report.filesystem_view)) {
    refuse("namespaces are required (sandbox.require_namespaces) and the kernel refused: " + report.describe());
  }

  set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
  set_limit(RLIMIT_NOFILE, options.max_open_files, "RLIMIT_NOFILE");
  set_limit(RLIMIT_FSIZE, kMaxFileBytes, "RLIMIT_FSIZE");
  set_limit(RLIMIT_CPU, kMaxCpuSeconds, "RLIMIT_CPU");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) refuse("PR_SET_NO_NEW_PRIVS failed: " + errno_text());
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) refuse("PR_SET_DUMPABLE failed: " + errno_text());
  return report;
}

void limit_address_space() { set_limit(RLIMIT_AS, kMaxAddressSpace, "RLIMIT_AS"); }

}  // namespace custos::host
