#include "tests/support/slapd.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace custos::testing {
namespace {

// A port the kernel just gave out, for slapd to take; the window between
// the two is small enough for a test.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

const char kAdmin[] = "-x -D cn=admin,dc=example,dc=org -w secret";

}  // namespace

Slapd::Slapd(const std::filesystem::path& directory) : directory_(directory) {
  std::filesystem::create_directories(directory_ / "db");
  write_file(directory_ / "slapd.conf",
             "include /etc/ldap/schema/core.schema\n"
             "include /etc/ldap/schema/cosine.schema\n"
             "include /etc/ldap/schema/inetorgperson.schema\n"
             "pidfile " + (directory_ / "slapd.pid").string() + "\n"
             "modulepath /usr/lib/ldap\n"
             "moduleload back_mdb\n"
             "database mdb\n"
             "suffix \"dc=example,dc=org\"\n"
             "rootdn \"cn=admin,dc=example,dc=org\"\n"
             "rootpw secret\n"
             "directory " + (directory_ / "db").string() + "\n",
             0600);
  uri_ = "ldap://127.0.0.1:" + std::to_string(free_port());
  CommandResult started = run_command("/usr/sbin/slapd -f " + (directory_ / "slapd.conf").string() + " -h " + uri_);
  if (started.status != 0) throw std::runtime_error("slapd did not start: " + started.err);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string pid = read_file(directory_ / "slapd.pid");
    if (!pid.empty() && run_command("ldapsearch -x -H " + uri_ + " -b '' -s base -LLL").status == 0) {
      pid_ = std::stoi(pid);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (pid_ < 0) throw std::runtime_error("slapd did not answer on " + uri_);
  add("dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n");
}

Slapd::~Slapd() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int attempt = 0; attempt < 100 && ::kill(pid_, 0) == 0; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void Slapd::add(const std::string& ldif) {
  write_file(directory_ / "add.ldif", ldif, 0600);
  CommandResult added = run_command(std::string("ldapadd ") + kAdmin + " -H " + uri_ + " -f " +
                                    (directory_ / "add.ldif").string());
  if (added.status != 0) throw std::runtime_error("ldapadd failed: " + added.err + added.out);
}

CommandResult Slapd::read(const std::string& dn, const std::string& attribute) const {
  return run_command(std::string("ldapsearch ") + kAdmin + " -H " + uri_ + " -LLL -o ldif-wrap=no -s base -b '" + dn +
                     "' '" + attribute + "'");
}

}  // namespace custos::testing
