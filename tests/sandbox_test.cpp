// The hostile-module suite: a policy module that tries, each in its own
// test, to break out of custos-module-host's sandbox or to break the
// engine. For each: the attempt fails or the host dies, the engine stays
// up, the request ends pending (or denied by the module itself, reporting
// the failed attempt) with a reason naming what happened, and the next
// request, with a good module, issues. The sandbox's own report — which
// namespaces it had — is printed with each test.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include <gtest/gtest.h>

#include "sandbox/sandbox.h"

#include "tests/support/engine_fixture.h"
#include "tests/support/python_module.h"
#include "tests/support/test_token.h"

namespace custos::engine {
namespace {

using storage::RequestState;

struct Attack {
  std::string name;
  std::string behaviour;
  std::string argument;  // "{pid}" and "{outside}" are filled in by the test
  RequestState expected;
  std::string reason;    // a part of the request's message
};

void PrintTo(const Attack& attack, std::ostream* out) { *out << attack.name; }

class Sandbox : public testing::EngineFixture {};

class HostileModule : public testing::EngineFixture, public ::testing::WithParamInterface<Attack> {};

TEST_P(HostileModule, FailsOrDiesAndTheEngineGoesOn) {
  const Attack& attack = GetParam();
  init();
  std::filesystem::path outside = directory_ / "breach";
  std::string argument = attack.argument;
  if (argument == "{pid}") argument = std::to_string(::getpid());
  if (argument == "{outside}") argument = outside.string();
  set_policy_module("exec:" + std::string(CUSTOS_HOSTILE_MODULE) + " " + attack.behaviour +
                    (argument.empty() ? "" : " " + argument));
  open();

  Disposition attacked = submit("attacker.example");
  EXPECT_TRUE(module_log_holds("namespaces")) << module_log();
  std::string log = module_log();
  std::cout << "[ sandbox  ] " << log.substr(0, log.find('\n')) << "\n";
  EXPECT_EQ(attacked.state, attack.expected) << attacked.message;
  EXPECT_NE(attacked.message.find(attack.reason), std::string::npos) << attacked.message;
  EXPECT_EQ(attacked.message.find("BREACHED"), std::string::npos) << attacked.message;
  EXPECT_FALSE(std::filesystem::exists(outside));

  // The engine is still up, and a good module issues the next request.
  set_policy_module("builtin:profiles", 2000);
  open();
  Disposition next = submit("after.example");
  EXPECT_EQ(next.state, RequestState::kIssued) << next.message;
}


INSTANTIATE_TEST_SUITE_P(
    Attacks, HostileModule,
    ::testing::Values(
        Attack{"ReadEtcPasswd", "open-passwd", "", RequestState::kDenied, "blocked: open /etc/passwd: No such file"},
        Attack{"WriteOutsideItsDirectory", "write-outside", "{outside}", RequestState::kDenied, "blocked: write"},
        Attack{"ConnectToLoopback", "connect", "22", RequestState::kDenied, "blocked: socket: Permission denied"},
        Attack{"ExecShell", "execve", "", RequestState::kDenied, "blocked: execve /bin/sh: No such file"},
        Attack{"Fork", "fork", "", RequestState::kDenied, "blocked: fork: Operation not permitted"},
        Attack{"Ptrace", "ptrace", "", RequestState::kPending,
               "was stopped by the sandbox for a forbidden system call (status 10); its last words on stderr: "
               "\"custos-module-host: the module called ptrace (101), a system call the sandbox forbids: stopped\""},
        Attack{"Unshare", "unshare", "", RequestState::kPending, "the module called unshare (272)"},
        Attack{"AHarmlessCallOffTheListFailsAndTheModuleGoesOn", "timerfd", "", RequestState::kDenied,
               "blocked: timerfd_create: Operation not permitted"},
        Attack{"ReadTheEnginesMemory", "proc-mem", "{pid}", RequestState::kDenied, "/mem: No such file"},
        Attack{"Allocate10GiB", "allocate", "", RequestState::kDenied, "blocked: allocate 10 GiB"},
        Attack{"SpinForever", "spin", "", RequestState::kPending, "did not answer within 1000 ms"},
        Attack{"DeclareA2GiBFrame", "huge-frame", "", RequestState::kPending, "a frame declared 2147483648 bytes"},
        Attack{"WriteGarbage", "garbage", "", RequestState::kPending, "not valid JSON"},
        Attack{"AnswerWithAnUnknownField", "unknown-field", "", RequestState::kPending, "unknown field 'backdoor'"},
        Attack{"AnswerTwice", "answer-twice", "", RequestState::kPending, "answered more than once"},
        Attack{"CloseMidFrame", "close-mid-frame", "", RequestState::kPending, "ended in the middle of a frame"}),
    [](const ::testing::TestParamInfo<Attack>& parameter) { return parameter.param.name; });

// The lying module: it issues with certificate properties the engine's
// rules forbid. Whatever path the value takes (a non-canonical OID, an
// added or removed extension, the subject), no such certificate is signed.
struct Lie {
  std::string name;
  std::string certificate;  // the verdict's C, as JSON
  RequestState expected;
  std::string reason;       // a part of the request's message
};

void PrintTo(const Lie& lie, std::ostream* out) { *out << lie.name; }

class LyingModule : public testing::EngineFixture, public ::testing::WithParamInterface<Lie> {};

TEST_P(LyingModule, CannotMakeTheEngineSignWhatItsRulesForbid) {
  const Lie& lie = GetParam();
  init();
  set_policy_module("exec:" + std::string(CUSTOS_HOSTILE_MODULE) + " lie", 2000,
                    "certificate = '" + lie.certificate + "'\n");
  open();

  Disposition lied = submit("attacker.example");
  EXPECT_EQ(lied.state, lie.expected) << lied.message;
  EXPECT_NE(lied.message.find(lie.reason), std::string::npos) << lied.message;
  EXPECT_FALSE(lied.serial.has_value());
  EXPECT_TRUE(ca_->store().list_requests(RequestState::kIssued, {}).empty());
}

const char* kNonCanonical = "is not an OID in canonical dotted form";

INSTANTIATE_TEST_SUITE_P(
    Lies, LyingModule,
    ::testing::Values(
        Lie{"CaTrueThroughALeadingZero",
            R"({"extensions_add": [{"oid": "2.5.29.019", "critical": true, "der": "MAMBAf8="}]})",
            RequestState::kPending, kNonCanonical},
        Lie{"KeyIdentifiersRemovedThroughLeadingZeros", R"({"extensions_remove": ["2.5.29.035", "2.5.29.014"]})",
            RequestState::kPending, kNonCanonical},
        Lie{"CaTrueInCanonicalForm",
            R"({"extensions_add": [{"oid": "2.5.29.19", "critical": true, "der": "MAMBAf8="}]})",
            RequestState::kDenied, "2.5.29.19 is set by the engine"},
        Lie{"KeyCertSignOnALeaf", R"({"extensions_add": [{"oid": "2.5.29.15", "critical": true, "der": "AwIBBg=="}]})",
            RequestState::kDenied, "only a CA certificate may have keyCertSign or cRLSign"},
        Lie{"MalformedKeyUsage", R"({"extensions_add": [{"oid": "2.5.29.15", "critical": true, "der": "AwMAAQY="}]})",
            RequestState::kDenied, "keyUsage is not in DER"},
        Lie{"OcspSigningOnALeaf",
            R"({"extensions_add": [{"oid": "2.5.29.37", "critical": false, "der": "MAoGCCsGAQUFBwMJ"}]})",
            RequestState::kDenied, "OCSPSigning (1.3.6.1.5.5.7.3.9) is not one the profile grants"},
        Lie{"AnyExtendedKeyUsage", R"({"extensions_add": [{"oid": "2.5.29.37", "critical": false, "der": "MAYGBFUdJQA="}]})",
            RequestState::kDenied, "anyExtendedKeyUsage (2.5.29.37.0) is not one the profile grants"},
        Lie{"ExtendedKeyUsageRemoved", R"({"extensions_remove": ["2.5.29.37"]})", RequestState::kDenied,
            "the profile's extendedKeyUsage cannot be removed"},
        Lie{"LeafNamedAsItsIssuer", R"({"subject": "CN=Engine Test Root"})", RequestState::kDenied,
            "would bear its issuer's name"},
        Lie{"NameConstraintsOnALeaf",
            R"({"extensions_add": [{"oid": "2.5.29.30", "critical": true, "der": "MAegBTADggF4"}]})",
            RequestState::kDenied, "only a CA certificate may carry nameConstraints"},
        Lie{"ApplicationPoliciesBesideTheExtendedKeyUsage",
            R"({"extensions_add": [{"oid": "1.3.6.1.4.1.311.21.10", "critical": false, "der": "MAwwCgYIKwYBBQUHAwM="}]})",
            RequestState::kDenied, "Application Policies (1.3.6.1.4.1.311.21.10)"},
        Lie{"AnotherCertificatePolicy",
            R"({"extensions_add": [{"oid": "2.5.29.32", "critical": false, "der": "MAowCAYGZ4EMAQIC"}]})",
            RequestState::kDenied, "is not one the profile grants"},
        Lie{"TrailingBytesInASubjectAltName",
            R"({"extensions_add": [{"oid": "2.5.29.17", "critical": false, "der": "MAaCBGEuZXgA"}]})",
            RequestState::kDenied, "subjectAltName (2.5.29.17) is not in DER"}),
    [](const ::testing::TestParamInfo<Lie>& parameter) { return parameter.param.name; });

// custosd@.service runs the engine as the unprivileged user custos: the
// module host then makes its user namespace first and maps the uid it had
// outside to root inside. Runs `prepare` as root in a child of its own, then
// enters the sandbox there as uid 4242 (not the overflow id 65534, so that
// a map naming the wrong one shows), and returns the child's exit status:
// 0 when the sandbox had every namespace and the uid.
constexpr unsigned kUnprivileged = 4242;

int sandbox_as_unprivileged_user(const std::function<void()>& prepare) {
  pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    prepare();
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kUnprivileged, kUnprivileged, kUnprivileged) != 0 ||
        ::setresuid(kUnprivileged, kUnprivileged, kUnprivileged) != 0) {
      std::_Exit(90);
    }
    // As a program started as that user is: changing uid made this one
    // undumpable, its /proc files root's.
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    host::SandboxOptions options;
    options.require_namespaces = true;
    host::SandboxReport report = host::enter_sandbox(options);
    std::cerr << "[ sandbox  ] " << report.describe() << "\n";
    std::_Exit(report.uid == kUnprivileged && report.missing.empty() && report.namespaces.size() == 5 ? 0 : 91);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// It once mapped the id it read after entering the namespace, the overflow
// id, which the kernel refuses.
TEST(UnprivilegedSandbox, EntersEveryNamespaceAsTheHostsOwnUid) {
  EXPECT_EQ(sandbox_as_unprivileged_user([] {}), 0) << "the sandbox refused an unprivileged host (its stderr above)";
}

// Under PrivateDevices=yes, /dev is a tmpfs of systemd's, read-only, noexec
// and nosuid; from inside a user namespace those flags cannot be cleared,
// and the remount that makes /dev/null writable in the view once tried to.
TEST(UnprivilegedSandbox, KeepsTheMountFlagsItMayNotClearAsUnderPrivateDevices) {
  EXPECT_EQ(sandbox_as_unprivileged_user([] {
              // As systemd makes it: a tmpfs, and the device nodes made in it.
              if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
                  ::mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=0755") != 0 ||
                  ::mknod("/dev/null", S_IFCHR | 0666, makedev(1, 3)) != 0 ||
                  ::mknod("/dev/urandom", S_IFCHR | 0666, makedev(1, 9)) != 0 ||
                  ::mount(nullptr, "/dev", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, nullptr) != 0) {
                std::_Exit(92);
              }
            }),
            0)
      << "the sandbox refused an unprivileged host on a noexec /dev (its stderr above)";
}

TEST_F(Sandbox, AVerdictWithinTheRulesStillAddsItsExtensions) {
  init();
  // certificatePolicies (BR domain-validated) and the profile's own EKU.
  set_policy_module("exec:" + std::string(CUSTOS_HOSTILE_MODULE) + " lie", 2000,
                    R"(certificate = '{"extensions_add": [)"
                    R"({"oid": "2.5.29.32", "critical": false, "der": "MAowCAYGZ4EMAQIB"},)"
                    R"({"oid": "2.5.29.37", "critical": false, "der": "MAoGCCsGAQUFBwMB"}]}')"
                    "\n");
  open();
  Disposition issued = submit("honest.example");
  ASSERT_EQ(issued.state, RequestState::kIssued) << issued.message;
  ossl::Ptr<X509> certificate = certificate_of(issued);
  EXPECT_GE(X509_get_ext_by_NID(certificate.get(), NID_certificate_policies, -1), 0);
}

// A module that dies before it answers is reported at once, not at the
// deadline, with its exit status and its last words on stderr.
TEST_F(Sandbox, AModuleThatDiesAtOnceIsReportedAtOnceWithItsLastWords) {
  init();
  set_policy_module("exec:" + std::string(CUSTOS_HOSTILE_MODULE) + " die-before-hello", 10000);
  open();
  auto started = std::chrono::steady_clock::now();
  Disposition died = submit("died.example");
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(died.state, RequestState::kPending);
  EXPECT_NE(died.message.find("exited with status 42"), std::string::npos) << died.message;
  EXPECT_NE(died.message.find("its last words on stderr: \"hostile: the configuration names no server\""),
            std::string::npos)
      << died.message;
  EXPECT_LT(took, std::chrono::seconds(5)) << died.message;
  EXPECT_TRUE(module_log_holds("hostile: the configuration names no server")) << module_log();
}

// A module script kept in the CA directory is seen alone: its directory,
// which holds custos.toml and the database, is not put in the view.
TEST_F(Sandbox, AScriptInTheCaDirectoryDoesNotBringTheDirectoryIntoView) {
  init();
  testing::write_file(directory_ / "peek.py", testing::python_module(R"py(
read()
write({"type": "hello", "protocol": 1, "name": "peek"})
while True:
    message = read()
    if message["type"] == "shutdown":
        sys.exit(0)
    try:
        open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "custos.toml")).read()
        write({"type": "verdict", "decision": "issue", "message": "BREACHED: read custos.toml"})
    except OSError as error:
        write({"type": "verdict", "decision": "deny", "message": "blocked: " + type(error).__name__})
)py"), 0644);
  set_policy_module("exec:/usr/bin/python3 " + (directory_ / "peek.py").string(), 5000);
  open();
  Disposition peeked = submit("peek.example");
  EXPECT_EQ(peeked.state, RequestState::kDenied) << peeked.message << "\n" << module_log();
  EXPECT_EQ(peeked.message, "blocked: FileNotFoundError");
}

TEST_F(Sandbox, NamespacesAreRequiredByDefaultAndTheHostSaysWhichItHad) {
  init();
  EXPECT_NE(testing::read_file(directory_ / "custos.toml").find("require_namespaces = true"), std::string::npos);
  open();
  EXPECT_TRUE(ca_->config().require_namespaces);
  EXPECT_EQ(submit("strict.example").state, RequestState::kIssued);
  EXPECT_TRUE(module_log_holds("namespaces user,mount,pid,ipc,net; filesystem read-only view; uid 65534; seccomp on"))
      << module_log();
}

}  // namespace
}  // namespace custos::engine
