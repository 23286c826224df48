#include "common/programs.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"

namespace custos {
namespace {

struct Where {
  const char* name;
  const char* override_variable;  // null: none
  // Relative to the directory of the running program when installed
  // (from bin/, sbin/ and libexec/custos/: the install layout, set by CMake).
  const char* from_bin;
  const char* from_sbin;
  const char* from_libexec;
};

Where where(Program program) {
  switch (program) {
    case Program::kDaemon:
      return {"custosd", nullptr, CUSTOS_SBIN_FROM_BIN, ".", CUSTOS_SBIN_FROM_LIBEXEC};
    case Program::kCommandLine:
      return {"custos-cli", nullptr, CUSTOS_LIBEXEC_FROM_BIN, CUSTOS_LIBEXEC_FROM_SBIN, "."};
    case Program::kModuleHost:
      return {"custos-module-host", "CUSTOS_MODULE_HOST", CUSTOS_LIBEXEC_FROM_BIN, CUSTOS_LIBEXEC_FROM_SBIN, "."};
    case Program::kHttpFrontEnd:
      return {"custos-http", "CUSTOS_HTTP_FRONT_END", CUSTOS_LIBEXEC_FROM_BIN, CUSTOS_LIBEXEC_FROM_SBIN, "."};
  }
  throw Error("unknown program");
}

}  // namespace

std::filesystem::path program_path(Program program) {
  Where place = where(program);
  if (place.override_variable != nullptr) {
    if (const char* path = std::getenv(place.override_variable); path != nullptr && *path != '\0') return path;
  }
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw Error(std::string("cannot tell where this program is (/proc/self/exe): ") + error.message());
  std::filesystem::path here = self.parent_path();
  // The build tree first (everything side by side), then the install layout.
  std::vector<std::filesystem::path> candidates = {here / place.name,
                                                   (here / place.from_bin / place.name).lexically_normal(),
                                                   (here / place.from_sbin / place.name).lexically_normal(),
                                                   (here / place.from_libexec / place.name).lexically_normal()};
  for (const std::filesystem::path& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  std::string looked;
  for (const std::filesystem::path& candidate : candidates) looked += (looked.empty() ? "" : ", ") + candidate.string();
  throw Error(std::string(place.name) + " is not installed where " + self.filename().string() + " looks for it (" +
              looked + ")");
}

void run_in_place(Program program, char** argv, NameAs name) {
  std::filesystem::path path = program_path(program);
  char* given_name = argv[0];
  if (name == NameAs::kItsPath) argv[0] = const_cast<char*>(path.c_str());
  ::execv(path.c_str(), argv);
  int failure = errno;
  argv[0] = given_name;  // not left pointing into `path`, which ends here
  throw Error("running " + path.string() + ": " + std::strerror(failure));
}

}  // namespace custos
