// The module SDK's examples do what PROTOCOL.md says, in the sandbox: the
// Python policy denies a subject matching its pattern and issues another;
// the C++ exit module journals the events it asked for; the shared-object
// policy runs in the host through the C ABI; and `custos module test` runs
// them through the scripted exchange.
#include <gtest/gtest.h>

#include "tests/support/cli.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/softhsm.h"

namespace custos::engine {
namespace {

using storage::RequestState;

const std::string kPolicyExample = std::string(CUSTOS_SDK_DIR) + "/examples/deny_subject_policy.py";

class SdkExamples : public testing::EngineFixture {};

TEST_F(SdkExamples, PythonPolicyDeniesAMatchingSubjectAndIssuesAnother) {
  init();
  set_policy_module("exec:/usr/bin/python3 " + kPolicyExample, 2000, "deny_subject = \"(?i)forbidden\"\n");
  open();
  Disposition denied = submit("Forbidden.example");
  EXPECT_EQ(denied.state, RequestState::kDenied);
  EXPECT_EQ(denied.message, "the subject CN=Forbidden.example matches (?i)forbidden");
  Disposition issued = submit("allowed.example");
  EXPECT_EQ(issued.state, RequestState::kIssued) << issued.message;
  EXPECT_EQ(issued.message, "no objection to CN=allowed.example");
}

// A Python policy as people write one: `#!/usr/bin/env python3`, run as
// `exec:PATH`, importing what real policy code imports and the SDK from
// beside it. Harmless calls the sandbox refuses fail (epoll falls back to
// poll, a subprocess cannot start) and the module goes on to decide.
constexpr char kEverydayPolicy[] = R"py(#!/usr/bin/env python3
import asyncio, http.client, json, logging, logging.handlers, selectors, socket, subprocess, urllib.request
import custos_module as custos

logging.basicConfig(level=logging.INFO)

@custos.policy
def verify(request, resubmission, config):
    loop = asyncio.new_event_loop()
    loop.close()
    try:
        subprocess.run(["/bin/true"], check=True)
        started = "started"
    except OSError as error:
        started = "refused (" + type(error).__name__ + ")"
    logging.info("deciding %s", request.subject)
    return custos.issue("imports ok; %s; a subprocess was %s" % (type(selectors.DefaultSelector()).__name__, started))

custos.run(name="everyday")
)py";

TEST_F(SdkExamples, APythonPolicyWithTheCommonFirstLineRunsAsWritten) {
  init();
  std::filesystem::path site = directory_.parent_path() / "site";
  std::filesystem::create_directories(site);
  std::filesystem::copy_file(std::string(CUSTOS_SDK_DIR) + "/python/custos_module.py", site / "custos_module.py");
  testing::write_file(site / "policy.py", kEverydayPolicy, 0755);
  set_policy_module("exec:" + (site / "policy.py").string(), 5000);
  open();
  Disposition issued = submit("everyday.example");
  ASSERT_EQ(issued.state, RequestState::kIssued) << issued.message << "\n" << module_log();
  EXPECT_EQ(issued.message, "imports ok; PollSelector; a subprocess was refused (PermissionError)");
  EXPECT_NE(module_log().find("INFO:root:deciding CN=everyday.example"), std::string::npos) << module_log();
}

TEST_F(SdkExamples, CppExitModuleJournalsTheEventsItAskedFor) {
  init();
  std::filesystem::path config = directory_ / "custos.toml";
  testing::write_file(config,
                      testing::read_file(config) + "\n[[exit]]\nmodule = \"exec:" + CUSTOS_JOURNAL_EXIT +
                          "\"\ndir = \"journal\"\n",
                      0600);
  open();
  Disposition issued = submit("www.example");
  engine_->revoke(*issued.serial, "keyCompromise", std::nullopt, "test");
  EXPECT_TRUE(engine_->deliver_events().empty());
  EXPECT_EQ(testing::read_file(directory_ / "journal" / "events.jsonl"),
            "{\"event\":\"certificate_issued\",\"id\":1,\"serial\":\"" + *issued.serial +
                "\",\"subject\":\"CN=www.example\"}\n{\"event\":\"certificate_revoked\",\"id\":2,\"serial\":\"" +
                *issued.serial + "\",\"subject\":\"CN=www.example\"}\n");
}

TEST_F(SdkExamples, SharedObjectPolicyRunsInTheHostThroughTheCAbi) {
  init();
  set_policy_module(std::string("exec:") + CUSTOS_SUBJECT_GUARD, 2000);
  open();
  Disposition denied = submit("no-organisation.example");
  EXPECT_EQ(denied.state, RequestState::kDenied);
  EXPECT_EQ(denied.message, "the subject CN=no-organisation.example names no organisation (O=)");
  EXPECT_NE(module_log().find("libsubject-guard.so: namespaces user,mount,pid,ipc,net"), std::string::npos)
      << module_log();
}

TEST(ModuleTest, RunsTheExamplesThroughTheScriptedExchange) {
  testing::CliFixture cli;
  testing::CommandResult policy = cli.custos("module test /usr/bin/python3 " + testing::quote(kPolicyExample));
  EXPECT_EQ(policy.status, 0) << policy.out << policy.err;
  EXPECT_NE(policy.out.find("verify       ok: issue \"no objection to CN=module-test.example\""), std::string::npos)
      << policy.out;
  EXPECT_NE(policy.out.find("shutdown     ok: exited with status 0"), std::string::npos) << policy.out;
  EXPECT_NE(policy.err.find("seccomp on"), std::string::npos) << policy.err;

  testing::CommandResult exit = cli.custos(std::string("module test --role exit ") + CUSTOS_JOURNAL_EXIT);
  EXPECT_EQ(exit.status, 0) << exit.out << exit.err;
  EXPECT_NE(exit.out.find("notify       ok: request_pending acknowledged"), std::string::npos) << exit.out;

  testing::CommandResult guarded =
      cli.custos(std::string("module test ") + CUSTOS_SUBJECT_GUARD + " --subject 'CN=x,O=Example'");
  EXPECT_EQ(guarded.status, 0) << guarded.out << guarded.err;
  EXPECT_NE(guarded.out.find("verify       ok: issue \"the subject names its organisation\""), std::string::npos)
      << guarded.out;

  testing::CommandResult broken = cli.custos(std::string("module test ") + CUSTOS_HOSTILE_MODULE + " garbage");
  EXPECT_EQ(broken.status, 1);
  EXPECT_NE(broken.err.find("sent a bad frame: a frame is not valid JSON"), std::string::npos) << broken.err;
}

}  // namespace
}  // namespace custos::engine
