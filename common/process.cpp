#include "common/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/error.h"
#include "common/files.h"

namespace custos {

void forbid_core_dumps() {
  rlimit no_core{0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0 || ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    throw Error(std::string("cannot forbid core dumps: ") + std::strerror(errno));
  }
}

pid_t spawn_isolated(const SpawnSpec& spec) {
  const int first = 3;
  const int count = static_cast<int>(spec.inherited.size());
  // Copies above the range dup2 writes to, so placing one descriptor never
  // overwrites another still to be placed.
  std::vector<FileDescriptor> staged;
  std::vector<int> placed = spec.inherited;
  if (spec.stderr_descriptor) placed.push_back(*spec.stderr_descriptor);
  for (int fd : placed) {
    staged.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, first + count));
    if (!staged.back()) throw Error("starting " + spec.arguments.front() + ": fcntl: " + std::strerror(errno));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int index = 0; index < count; ++index) posix_spawn_file_actions_adddup2(&actions, staged[index].get(), first + index);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  if (spec.stderr_descriptor) posix_spawn_file_actions_adddup2(&actions, staged.back().get(), STDERR_FILENO);
  if (spec.stderr_file) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, spec.stderr_file->c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, first + count);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> arguments = spec.arguments;
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::string path_variable = "PATH=/usr/local/bin:/usr/bin:/bin";
  std::string locale_variable = "LANG=C.UTF-8";
  std::vector<std::string> variables = spec.environment;
  std::vector<char*> environment = {path_variable.data(), locale_variable.data()};
  for (std::string& variable : variables) environment.push_back(variable.data());
  environment.push_back(nullptr);

  pid_t pid = -1;
  int spawned = ::posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), environment.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  staged.clear();
  if (spawned != 0) throw Error(spec.arguments.front() + " could not be started: " + std::strerror(spawned));
  return pid;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
    return "was killed by the sandbox for a forbidden system call (SIGSYS)";
  }
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

namespace {

// Field 22 of /proc/PID/stat, after the command in parentheses (which may
// itself hold spaces and parentheses, hence the last ')').
std::optional<std::string> start_time_of(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return std::nullopt;
  std::size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  // After the command: state is field 3; starttime is field 22.
  for (int index = 3; index <= 22; ++index) {
    if (!(fields >> field)) return std::nullopt;
  }
  return field;
}

std::string boot_id() {
  std::ifstream file("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(file, id);
  return id;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace

std::string process_identity() {
  // Asked on every issuance (the signing intent's owner): read /proc and
  // the host name once per process, again only in a forked child.
  static std::mutex mutex;
  static pid_t known_pid = -1;
  static std::string known;
  std::lock_guard lock(mutex);
  if (known_pid != ::getpid()) {
    known_pid = ::getpid();
    std::string pid = std::to_string(known_pid);
    known = host_name() + "/" + boot_id() + "/" + pid + "/" + start_time_of(pid).value_or("0");
  }
  return known;
}

std::optional<bool> process_running(const std::string& identity) {
  std::istringstream parts(identity);
  std::string host;
  std::string boot;
  std::string pid;
  std::string start;
  if (!std::getline(parts, host, '/') || !std::getline(parts, boot, '/') || !std::getline(parts, pid, '/') ||
      !std::getline(parts, start)) {
    return false;
  }
  if (host != host_name()) return std::nullopt;
  if (boot != boot_id()) return false;
  std::optional<std::string> running_since = start_time_of(pid);
  return running_since && *running_since == start;
}

}  // namespace custos
