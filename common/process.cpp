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

#include "common/error.h"

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
  std::vector<int> staged;
  auto close_staged = [&] {
    for (int fd : staged) ::close(fd);
  };
  std::vector<int> placed = spec.inherited;
  if (spec.stderr_descriptor) placed.push_back(*spec.stderr_descriptor);
  for (int fd : placed) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, first + count);
    if (copy < 0) {
      int saved = errno;
      close_staged();
      throw Error("starting " + spec.arguments.front() + ": fcntl: " + std::strerror(saved));
    }
    staged.push_back(copy);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int index = 0; index < count; ++index) posix_spawn_file_actions_adddup2(&actions, staged[index], first + index);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  if (spec.stderr_descriptor) posix_spawn_file_actions_adddup2(&actions, staged.back(), STDERR_FILENO);
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
  char* environment[] = {path_variable.data(), locale_variable.data(), nullptr};

  pid_t pid = -1;
  int spawned = ::posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), environment);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close_staged();
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

}  // namespace custos
