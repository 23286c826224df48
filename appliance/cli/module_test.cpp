#include "appliance/cli/module_test.h"

#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <iostream>

#include "appliance/engine/config.h"
#include "appliance/engine/module_client.h"
#include "appliance/engine/module_specs.h"
#include "appliance/x509/csr.h"
#include "appliance/x509/name.h"
#include "common/files.h"
#include "common/openssl.h"

namespace custos::cli {
namespace {

// A request such as a client would send: a fresh P-256 key (the
// requester's, thrown away) and a DNS name.
protocol::RequestSnapshot sample_request(const std::string& subject) {
  ossl::Ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ossl::Ptr<X509_REQ> request(X509_REQ_new());
  ossl::Ptr<X509_NAME> name = x509::parse_name(subject);
  ossl::Ptr<X509_EXTENSION> san(
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, "DNS:module-test.example"));
  STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(extensions, san.get());
  bool built = key && request && X509_REQ_set_version(request.get(), X509_REQ_VERSION_1) == 1 &&
               X509_REQ_set_subject_name(request.get(), name.get()) == 1 &&
               X509_REQ_set_pubkey(request.get(), key.get()) == 1 &&
               X509_REQ_add_extensions(request.get(), extensions) == 1 &&
               X509_REQ_sign(request.get(), key.get(), EVP_sha256()) > 0;
  sk_X509_EXTENSION_free(extensions);
  if (!built) throw Error("making the sample request: " + ossl::last_error());
  x509::CheckedRequest checked = x509::check_request(ossl::to_der(request.get(), i2d_X509_REQ, "the sample request"));

  protocol::RequestSnapshot snapshot;
  snapshot.id = 1;
  snapshot.csr = checked.der;
  snapshot.subject = checked.subject;
  for (const x509::SubjectAltName& entry : checked.san) snapshot.san.push_back({entry.type, entry.value});
  snapshot.key = {checked.key.type, checked.key.curve, checked.key.bits};
  snapshot.attributes = {{"profile", "server"}};
  for (const x509::RequestedExtension& extension : checked.requested_extensions) {
    snapshot.requested_extensions.push_back({extension.oid, extension.critical, extension.der});
  }
  return snapshot;
}

void step(const std::string& name, const std::string& outcome) {
  std::cout << "  " << name << std::string(name.size() < 13 ? 13 - name.size() : 1, ' ') << outcome << "\n";
}

// The CA's own policy or exit module, as the engine would start it.
engine::ModuleSpec configured_spec(const ModuleTestCommand& command) {
  engine::CaConfig config = engine::load_config(command.directory / "custos.toml");
  if (command.configured == "policy") return engine::policy_module_spec(config, command.directory);
  std::size_t index = 0;
  if (command.configured.rfind("exit:", 0) == 0) {
    const std::string number = command.configured.substr(5);
    if (number.empty() || number.size() > 4 || !std::all_of(number.begin(), number.end(), ::isdigit)) {
      throw UsageError("--configured takes policy, exit or exit:N");
    }
    index = std::stoul(number);
  } else if (command.configured != "exit") {
    throw UsageError("--configured takes policy, exit or exit:N");
  }
  if (index >= config.exits.size()) {
    throw Error("custos.toml has " + std::to_string(config.exits.size()) + " [[exit]] tables; there is no exit:" +
                std::to_string(index));
  }
  return engine::exit_module_spec(config, index, command.directory);
}

engine::ModuleSpec named_spec(const ModuleTestCommand& command) {
  engine::ModuleSpec spec;
  spec.module = command.module.rfind("builtin:", 0) == 0 || command.module.rfind("exec:", 0) == 0
                    ? command.module
                    : "exec:" + command.module;
  if (command.role != "policy" && command.role != "exit") throw UsageError("--role must be policy or exit");
  spec.role = command.role == "policy" ? protocol::Role::kPolicy : protocol::Role::kExit;
  if (!command.config_file.empty()) {
    spec.config = nlohmann::json::parse(read_text_file(command.config_file, 1 << 20), nullptr, false);
    if (!spec.config.is_object()) throw Error(command.config_file.string() + " does not hold a JSON object");
  }
  return spec;
}

}  // namespace

void run_module_test(const ModuleTestCommand& command) {
  engine::ModuleSpec spec = command.configured.empty() ? named_spec(command) : configured_spec(command);
  // No log file: the module's stderr and the sandbox's report reach its author.
  spec.log_file.clear();
  engine::ModuleClient module(spec);
  protocol::RequestSnapshot request = sample_request(command.subject);
  std::string role(protocol::role_name(spec.role));
  std::cout << "module " << spec.module << " (" << role << ")\n";
  try {
    if (spec.role == protocol::Role::kPolicy) {
      for (bool resubmission : {false, true}) {
        protocol::Verdict verdict = module.verify({resubmission, request});
        step(resubmission ? "resubmission" : "verify",
             "ok: " + std::string(protocol::decision_name(verdict.decision)) + " \"" + verdict.message + "\"");
      }
    } else {
      std::string events;
      for (const std::string& event : module.events()) events += (events.empty() ? "" : ", ") + event;
      step("hello", "ok: events " + (events.empty() ? std::string("(none)") : events));
      std::int64_t id = 0;
      for (const std::string& event : module.events()) {
        if (event != "request_pending" && event != "request_denied" && event != "request_retrieved") continue;
        module.notify({++id, event, request, std::nullopt, std::nullopt});
        step("notify", "ok: " + event + " acknowledged");
      }
    }
  } catch (const engine::ModuleFailure& failure) {
    throw Error(failure.what());
  }
  std::string ending = module.shut_down();
  step("shutdown", ending == "exited with status 0" ? "ok: " + ending : "the module " + ending);
  if (ending != "exited with status 0") throw Error("the module did not shut down cleanly: it " + ending);
}

}  // namespace custos::cli
