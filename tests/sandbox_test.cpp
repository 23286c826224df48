// The hostile-module suite: a policy module that tries, each in its own
// test, to break out of custos-module-host's sandbox or to break the
// engine. For each: the attempt fails or the host dies, the engine stays
// up, the request ends pending (or denied by the module itself, reporting
// the failed attempt) with a reason naming what happened, and the next
// request, with a good module, issues. The sandbox's own report — which
// namespaces it had — is printed with each test.
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/engine_fixture.h"
#include "tests/support/softhsm.h"

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
  std::string log = module_log();
  std::cout << "[ sandbox  ] " << log.substr(0, log.find('\n')) << "\n";
  EXPECT_NE(log.find("namespaces"), std::string::npos) << log;
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

const char* kSeccompKill = "killed by the sandbox for a forbidden system call (SIGSYS)";

INSTANTIATE_TEST_SUITE_P(
    Attacks, HostileModule,
    ::testing::Values(
        Attack{"ReadEtcPasswd", "open-passwd", "", RequestState::kDenied, "blocked: open /etc/passwd: No such file"},
        Attack{"WriteOutsideItsDirectory", "write-outside", "{outside}", RequestState::kDenied, "blocked: write"},
        Attack{"ConnectToLoopback", "connect", "22", RequestState::kDenied, "blocked: socket: Permission denied"},
        Attack{"ExecShell", "execve", "", RequestState::kDenied, "blocked: execve /bin/sh: No such file"},
        Attack{"Fork", "fork", "", RequestState::kPending, kSeccompKill},
        Attack{"Ptrace", "ptrace", "", RequestState::kPending, kSeccompKill},
        Attack{"ReadTheEnginesMemory", "proc-mem", "{pid}", RequestState::kDenied, "/mem: No such file"},
        Attack{"Allocate10GiB", "allocate", "", RequestState::kDenied, "blocked: allocate 10 GiB"},
        Attack{"SpinForever", "spin", "", RequestState::kPending, "did not answer within 1000 ms"},
        Attack{"DeclareA2GiBFrame", "huge-frame", "", RequestState::kPending, "a frame declared 2147483648 bytes"},
        Attack{"WriteGarbage", "garbage", "", RequestState::kPending, "not valid JSON"},
        Attack{"AnswerWithAnUnknownField", "unknown-field", "", RequestState::kPending, "unknown field 'backdoor'"},
        Attack{"AnswerTwice", "answer-twice", "", RequestState::kPending, "answered more than once"},
        Attack{"CloseMidFrame", "close-mid-frame", "", RequestState::kPending, "ended in the middle of a frame"}),
    [](const ::testing::TestParamInfo<Attack>& parameter) { return parameter.param.name; });

TEST_F(Sandbox, NamespacesAreRequiredByDefaultAndTheHostSaysWhichItHad) {
  init();
  EXPECT_NE(testing::read_file(directory_ / "custos.toml").find("require_namespaces = true"), std::string::npos);
  open();
  EXPECT_TRUE(ca_->config().require_namespaces);
  EXPECT_EQ(submit("strict.example").state, RequestState::kIssued);
  std::string log = module_log();
  EXPECT_NE(log.find("namespaces user,mount,pid,ipc,net; filesystem read-only view; uid 65534; seccomp on"),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace custos::engine
