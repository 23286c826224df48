// The module SDK's examples do what PROTOCOL.md says, in the sandbox: the
// Python policy denies a subject matching its pattern and issues another;
// the C++ exit module journals the events it asked for; the shared-object
// policy runs in the host through the C ABI; and `custos module test` runs
// them through the scripted exchange.
#include <gtest/gtest.h>

#include <signal.h>

#include <cstdlib>
#include <thread>

#include "tests/support/cli.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/test_token.h"

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
// beside it. A harmless call the sandbox refuses fails (a subprocess
// cannot start) and the module goes on to decide.
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
  EXPECT_EQ(issued.message, "imports ok; EpollSelector; a subprocess was refused (PermissionError)");
  EXPECT_TRUE(module_log_holds("INFO:root:deciding CN=everyday.example")) << module_log();
}

// An allow-list service on 127.0.0.1 for the network tests: GET
// /allowed?name=N answers {"allowed": …}, true unless N starts with
// "evil". It writes its port to the file it is given and ends by itself.
constexpr char kAllowListService[] = R"py(
import http.server, json, sys, threading, urllib.parse
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("name", [""])[0]
        body = json.dumps({"allowed": not name.startswith("evil")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *arguments):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(60, server.shutdown).start()
server.serve_forever()
)py";

// A policy that tries the places its list does not name.
constexpr char kProbingPolicy[] = R"py(#!/usr/bin/env python3
import socket, sys
import custos_module as custos

@custos.policy
def verify(request, resubmission, config):
    port = int(config["port"])
    results = []
    for host, target in [("localhost", port), ("127.0.0.1", port), ("localhost", port + 1), ("example.com", 443)]:
        try:
            socket.create_connection((host, target), timeout=3).close()
            results.append("%s:%d reached" % (host, target))
        except OSError as error:
            results.append("%s:%d %s" % (host, target, type(error).__name__))
    return custos.issue("; ".join(results))

custos.run(name="probe")
)py";

class NetworkedModules : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    std::filesystem::path port_file = directory_.parent_path() / "service.port";
    testing::write_file(directory_.parent_path() / "service.py", kAllowListService, 0644);
    std::string command = "python3 " + (directory_.parent_path() / "service.py").string() + " " + port_file.string() +
                          " & echo $! > " + (directory_.parent_path() / "service.pid").string();
    ASSERT_EQ(std::system(command.c_str()), 0);
    for (int attempt = 0; attempt < 100 && !std::filesystem::exists(port_file); ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    port_ = std::stoi(testing::read_file(port_file));
    site_ = directory_.parent_path() / "site";
    std::filesystem::create_directories(site_);
    std::filesystem::copy_file(std::string(CUSTOS_SDK_DIR) + "/python/custos_module.py", site_ / "custos_module.py");
  }
  void TearDown() override {
    std::string pid = testing::read_file(directory_.parent_path() / "service.pid");
    if (!pid.empty()) ::kill(std::stoi(pid), SIGTERM);
  }
  int port_ = 0;
  std::filesystem::path site_;
};

TEST_F(NetworkedModules, TheAllowListPolicyAsksItsServiceNamedInTheNetworkList) {
  init();
  std::filesystem::copy_file(std::string(CUSTOS_SDK_DIR) + "/examples/san_allowlist_policy.py",
                             site_ / "san_allowlist_policy.py");
  std::filesystem::permissions(site_ / "san_allowlist_policy.py", std::filesystem::perms(0755));
  std::string service = "http://localhost:" + std::to_string(port_);
  set_policy_module("exec:" + (site_ / "san_allowlist_policy.py").string(), 5000,
                    "allowlist_url = \"" + service + "/allowed\"\nnetwork = [\"" + service + "\"]\n");
  open();
  Disposition issued = submit("good.example", "DNS:good.example");
  EXPECT_EQ(issued.state, RequestState::kIssued) << issued.message << "\n" << module_log();
  EXPECT_EQ(issued.message, "the allow-list service allows good.example");
  Disposition denied = submit("evil.example", "DNS:evil.example");
  EXPECT_EQ(denied.state, RequestState::kDenied) << denied.message;
  EXPECT_EQ(denied.message, "the allow-list service refuses evil.example");
}

TEST_F(NetworkedModules, AModuleReachesItsListAndNothingElse) {
  init();
  testing::write_file(site_ / "probe.py", kProbingPolicy, 0755);
  set_policy_module("exec:" + (site_ / "probe.py").string(), 20000,
                    "port = \"" + std::to_string(port_) + "\"\nnetwork = [\"localhost:" + std::to_string(port_) + "\"]\n");
  open();
  Disposition probed = submit("probe.example");
  ASSERT_EQ(probed.state, RequestState::kIssued) << probed.message << "\n" << module_log();
  std::string port = std::to_string(port_);
  std::string next = std::to_string(port_ + 1);
  EXPECT_EQ(probed.message, "localhost:" + port + " reached; 127.0.0.1:" + port + " ConnectionRefusedError; localhost:" +
                                next + " ConnectionRefusedError; example.com:443 gaierror");
}

// A listed destination that cannot be reached: the module's connection is
// reset, and the module log says which destination failed.
TEST_F(NetworkedModules, AnUnreachableDestinationIsNamedInTheModuleLog) {
  init();
  testing::write_file(site_ / "probe.py", kProbingPolicy, 0755);
  std::string closed = std::to_string(port_ + 1);  // nothing listens there
  set_policy_module("exec:" + (site_ / "probe.py").string(), 30000,
                    "port = \"" + closed + "\"\nnetwork = [\"localhost:" + closed + "\"]\n");
  open();
  Disposition probed = submit("probe.example");
  ASSERT_EQ(probed.state, RequestState::kIssued) << probed.message << "\n" << module_log();
  // The relay dials after it accepted, so the line may come after the
  // verdict: wait for it (10 s at most).
  const std::string line = "could not reach localhost:" + closed + " for the module";
  EXPECT_TRUE(module_log_holds(line)) << module_log();
}

TEST_F(NetworkedModules, WithoutAListAModuleHasNoNetwork) {
  init();
  testing::write_file(site_ / "probe.py", kProbingPolicy, 0755);
  set_policy_module("exec:" + (site_ / "probe.py").string(), 20000, "port = \"" + std::to_string(port_) + "\"\n");
  open();
  Disposition probed = submit("probe.example");
  ASSERT_EQ(probed.state, RequestState::kIssued) << probed.message << "\n" << module_log();
  EXPECT_EQ(probed.message.find("reached"), std::string::npos) << probed.message;
}

// Perl, from its core library alone (JSON::PP), and a shell script that
// hands over to a program beside it: both as `exec:PATH` with their #! line.
constexpr char kPerlPolicy[] = R"pl(#!/usr/bin/perl
use strict;
use warnings;
use JSON::PP;
binmode STDIN;
binmode STDOUT;
$| = 1;
sub receive {
    my $got = read(STDIN, my $header, 4);
    exit 0 unless $got && $got == 4;
    my $length = unpack("N", $header);
    read(STDIN, my $body, $length) == $length or exit 5;
    return decode_json($body);
}
sub answer {
    my $body = encode_json($_[0]);
    print pack("N", length $body) . $body;
}
receive();
answer({type => "hello", protocol => 1, name => "perl-policy"});
while (1) {
    my $message = receive();
    exit 0 if $message->{type} eq "shutdown";
    answer({type => "verdict", decision => "issue", message => "perl issues $message->{request}{subject}"});
}
)pl";

TEST_F(SdkExamples, PerlAndShellModulesRunAsWritten) {
  init();
  std::filesystem::path site = directory_.parent_path() / "site";
  std::filesystem::create_directories(site);
  testing::write_file(site / "policy.pl", kPerlPolicy, 0755);
  set_policy_module("exec:" + (site / "policy.pl").string(), 5000);
  open();
  Disposition perl = submit("perl.example");
  EXPECT_EQ(perl.state, RequestState::kIssued) << perl.message << "\n" << module_log();
  EXPECT_EQ(perl.message, "perl issues CN=perl.example");

  std::filesystem::copy_file(CUSTOS_HOSTILE_MODULE, site / "policy-program");
  testing::write_file(site / "policy.sh", "#!/bin/sh\nexec \"${0%/*}/policy-program\" good\n", 0755);
  set_policy_module("exec:" + (site / "policy.sh").string(), 5000);
  open();
  Disposition shell = submit("shell.example");
  EXPECT_EQ(shell.state, RequestState::kIssued) << shell.message << "\n" << module_log();
  EXPECT_EQ(shell.message, "a good module");
}

// Node, as `#!/usr/bin/env node`, where it is installed: libuv's event
// loop (epoll, eventfd, threads) runs in the sandbox.
constexpr char kNodePolicy[] = R"js(#!/usr/bin/env node
let buffer = Buffer.alloc(0);
function send(message) {
  const body = Buffer.from(JSON.stringify(message));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  process.stdout.write(Buffer.concat([header, body]));
}
function handle(message) {
  if (message.type === 'hello') send({type: 'hello', protocol: 1, name: 'node-policy'});
  else if (message.type === 'shutdown') process.exit(0);
  else send({type: 'verdict', decision: 'issue', message: 'node issues ' + message.request.subject});
}
process.stdin.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  while (buffer.length >= 4) {
    const length = buffer.readUInt32BE(0);
    if (buffer.length < 4 + length) return;
    const message = JSON.parse(buffer.subarray(4, 4 + length));
    buffer = buffer.subarray(4 + length);
    handle(message);
  }
});
process.stdin.on('end', () => process.exit(0));
)js";

TEST_F(SdkExamples, ANodeModuleRunsAsWrittenWhereNodeIsInstalled) {
  if (!std::filesystem::exists("/usr/bin/node") && !std::filesystem::exists("/usr/local/bin/node")) {
    GTEST_SKIP() << "node is not installed";
  }
  init();
  std::filesystem::path site = directory_.parent_path() / "site";
  std::filesystem::create_directories(site);
  testing::write_file(site / "policy.js", kNodePolicy, 0755);
  set_policy_module("exec:" + (site / "policy.js").string(), 10000);
  open();
  Disposition node = submit("node.example");
  EXPECT_EQ(node.state, RequestState::kIssued) << node.message << "\n" << module_log();
  EXPECT_EQ(node.message, "node issues CN=node.example");
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
  EXPECT_TRUE(module_log_holds("libsubject-guard.so: namespaces user,mount,pid,ipc,net")) << module_log();
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

// `module test --configured` starts the CA's own module as the engine
// would: the table's keys reach hello.config, and a failure reads as the
// engine would report it.
TEST(ModuleTest, RunsTheCasOwnModulesAsConfigured) {
  testing::CliFixture cli;
  ASSERT_TRUE(testing::succeeded(cli.custos("--dir ca init --subject 'CN=Module Test Root' --key ec-p256", true)));
  std::filesystem::path config = cli.work() / "ca" / "custos.toml";
  std::string text = testing::read_file(config);
  std::size_t policy = text.find("[policy]\n");
  ASSERT_NE(policy, std::string::npos);
  text.replace(policy, text.find("\n[", policy + 1) - policy,
               "[policy]\nmodule = \"exec:/usr/bin/python3 " + kPolicyExample + "\"\ndeny_subject = \"(?i)module-test\"\n");
  text += "\n[[exit]]\nmodule = \"builtin:file\"\ndir = \"published\"\n";
  testing::write_file(config, text, 0600);

  testing::CommandResult denied = cli.custos("--dir ca module test --configured policy");
  EXPECT_EQ(denied.status, 0) << denied.out << denied.err;
  EXPECT_NE(denied.out.find("verify       ok: deny \"the subject CN=module-test.example matches (?i)module-test\""),
            std::string::npos)
      << denied.out;

  testing::CommandResult exit = cli.custos("--dir ca module test --configured exit:0");
  EXPECT_EQ(exit.status, 0) << exit.out << exit.err;
  EXPECT_NE(exit.out.find("module builtin:file (exit)"), std::string::npos) << exit.out;
  EXPECT_TRUE(std::filesystem::is_directory(cli.work() / "ca" / "published"));

  testing::CommandResult missing = cli.custos("--dir ca module test --configured exit:1");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("custos.toml has 1 [[exit]] tables; there is no exit:1"), std::string::npos) << missing.err;
  EXPECT_EQ(cli.custos("--dir ca module test --configured policy /bin/true").status, 2);
}

}  // namespace
}  // namespace custos::engine
