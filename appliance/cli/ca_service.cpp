#include "appliance/cli/ca_service.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "appliance/cli/output.h"
#include "appliance/engine/module_specs.h"
#include "appliance/engine/wire_form.h"
#include "appliance/operations/daemon_client.h"
#include "common/encoding.h"

namespace custos::cli {
namespace {

using operations::Op;

// The engine in this process. Each change's events go to the exit modules
// as the engine makes it (its publisher); the end of the command delivers
// what an earlier one left, lets the modules go and has the token sign an
// audit checkpoint.
class LocalCa : public CaService {
 public:
  LocalCa(const CaContext& context, Asks asks) : actor_(engine::local_actor()) {
    engine::CaConfig config = engine::load_config(engine::CaPaths(context.directory).config);
    // The policy module's process starts (namespaces, exec, its hello)
    // while this one logs in to the token and opens the database: on two
    // cores a local submit no longer waits for it.
    std::unique_ptr<engine::ModuleClient> policy;
    if (asks == Asks::kPolicy) {
      policy = std::make_unique<engine::ModuleClient>(engine::policy_module_spec(config, context.directory));
      policy->prestart();
    }
    ca_ = engine::CertificateAuthority::open(context.directory, context.token, std::move(config));
    engine_ = std::make_unique<engine::Engine>(*ca_, [this] { deliver(); });
    if (policy) engine_->use_policy(std::move(policy));
  }

  void finish() override {
    deliver();
    // The modules end (2-3 ms for a host) while the token signs the
    // checkpoint and the store commits it.
    engine_->ask_modules_to_shut_down();
    try {
      engine_->checkpoint_audit();
    } catch (const std::exception& error) {
      std::cerr << "custos: warning: signing an audit checkpoint: " << error.what() << "\n";
    }
  }

  engine::Disposition submit(const std::vector<std::uint8_t>& request,
                             const std::map<std::string, std::string>& attributes) override {
    return engine_->submit(request, attributes, actor_);
  }
  engine::Disposition retrieve(std::int64_t id) override { return engine_->retrieve_for_client(id, actor_); }
  nlohmann::json list(const std::string& state_name, const storage::RequestPage& page) override {
    return engine::list_requests_to_wire(*engine_, state_name, page);
  }
  engine::Disposition resubmit(std::int64_t id) override { return engine_->resubmit(id, actor_); }
  engine::Disposition deny(std::int64_t id, const std::string& message) override {
    engine_->deny(id, message, actor_);
    return engine_->retrieve(id);
  }
  void set_attribute(std::int64_t id, const std::string& name, const std::string& value) override {
    engine_->set_attribute(id, name, value, actor_);
  }
  void set_extension(std::int64_t id, const std::string& oid, const std::vector<std::uint8_t>& der,
                     bool critical) override {
    engine_->set_extension(id, oid, der, critical, actor_);
  }
  void remove_extension(std::int64_t id, const std::string& oid) override {
    engine_->remove_extension(id, oid, actor_);
  }
  void revoke(const std::string& serial, const std::string& reason, std::optional<std::time_t> at) override {
    engine_->revoke(serial, reason, at, actor_);
  }
  engine::RevocationTally revoke_batch(const std::vector<std::string>& serials, const std::string& reason,
                                       std::optional<std::time_t> at) override {
    return engine_->revoke_batch(serials, reason, at, actor_);
  }
  void unrevoke(const std::string& serial) override { engine_->unrevoke(serial, actor_); }
  nlohmann::json show(const std::string& serial) override { return engine_->certificate_status(serial).to_json(); }
  engine::PublishedCrl publish_crl() override { return engine_->publish_crl(actor_); }
  nlohmann::json verify_audit(const std::optional<std::string>& expect) override {
    std::optional<engine::AuditExpectation> expectation;
    if (expect) expectation = engine::AuditExpectation::parse(*expect);
    return engine_->verify_audit(expectation).to_json();
  }
  nlohmann::json backup(const std::filesystem::path& directory) override {
    return engine_->backup(directory, actor_).to_json();
  }
  void reload() override {
    throw Error("no custosd serves " + ca_->paths().directory.string() +
                ": each command reads custos.toml afresh, so there is nothing to reload");
  }
  // Local mode: whoever holds the PIN drives the engine; [roles] says what
  // this uid would hold through custosd.
  nlohmann::json whoami() override {
    std::string identity = "uid:" + std::to_string(::getuid());
    std::vector<engine::Role> held = engine::roles_held(ca_->config().roles, identity, identity);
    nlohmann::json roles = nlohmann::json::array();
    for (engine::Role role : held) roles.push_back(engine::role_name(role));
    return {{"identity", identity}, {"roles", roles}, {"authenticated", true}, {"local", true}};
  }

 private:
  void deliver() {
    try {
      for (const std::string& failure : engine_->deliver_events()) std::cerr << "custos: warning: " << failure << "\n";
    } catch (const std::exception& error) {
      std::cerr << "custos: warning: delivering events to the exit modules: " << error.what() << "\n";
    }
  }

  std::unique_ptr<engine::CertificateAuthority> ca_;
  std::unique_ptr<engine::Engine> engine_;
  std::string actor_;
};

// The custosd serving the directory; it holds the token, so the token
// options are not needed.
class DaemonCa : public CaService {
 public:
  explicit DaemonCa(operations::DaemonConnection connection) : daemon_(std::move(connection)) {}

  engine::Disposition submit(const std::vector<std::uint8_t>& request,
                             const std::map<std::string, std::string>& attributes) override {
    return call_for_disposition(Op::kSubmit, submit_call_arguments(request, attributes));
  }
  engine::Disposition retrieve(std::int64_t id) override { return call_for_disposition(Op::kRetrieve, {{"id", id}}); }
  // custosd answers at most operations::kMaxListPage at a time: ask again
  // after the last one until the page is whole or there is no more.
  // A limit below 1 goes out as it is, and custosd refuses it as local mode does.
  nlohmann::json list(const std::string& state, const storage::RequestPage& page) override {
    nlohmann::json records = nlohmann::json::array();
    std::optional<std::int64_t> after = page.after;
    while (true) {
      std::int64_t wanted = operations::kMaxListPage;
      if (page.limit) wanted = std::min(wanted, *page.limit - static_cast<std::int64_t>(records.size()));
      nlohmann::json args = {{"limit", wanted}};
      if (!state.empty()) args["state"] = state;
      if (after) args["after"] = *after;
      nlohmann::json answer = daemon_.call(Op::kList, args);
      for (nlohmann::json& record : answer) records.push_back(std::move(record));
      if (static_cast<std::int64_t>(answer.size()) < wanted) return records;
      if (page.limit && static_cast<std::int64_t>(records.size()) >= *page.limit) return records;
      after = records.back().at("request_id").get<std::int64_t>();
    }
  }
  engine::Disposition resubmit(std::int64_t id) override { return call_for_disposition(Op::kResubmit, {{"id", id}}); }
  engine::Disposition deny(std::int64_t id, const std::string& message) override {
    return call_for_disposition(Op::kDeny, {{"id", id}, {"message", message}});
  }
  void set_attribute(std::int64_t id, const std::string& name, const std::string& value) override {
    daemon_.call(Op::kSetAttribute, {{"id", id}, {"name", name}, {"value", value}});
  }
  void set_extension(std::int64_t id, const std::string& oid, const std::vector<std::uint8_t>& der,
                     bool critical) override {
    daemon_.call(Op::kSetExtension, {{"id", id}, {"oid", oid}, {"der", to_base64(der)}, {"critical", critical}});
  }
  void remove_extension(std::int64_t id, const std::string& oid) override {
    daemon_.call(Op::kRemoveExtension, {{"id", id}, {"oid", oid}});
  }
  void revoke(const std::string& serial, const std::string& reason, std::optional<std::time_t> at) override {
    nlohmann::json args = {{"serial", serial}, {"reason", reason}};
    if (at) args["at"] = *at;
    daemon_.call(Op::kRevoke, args);
  }
  engine::RevocationTally revoke_batch(const std::vector<std::string>& serials, const std::string& reason,
                                       std::optional<std::time_t> at) override {
    nlohmann::json args = {{"serials", serials}, {"reason", reason}};
    if (at) args["at"] = *at;
    nlohmann::json tally = daemon_.call(Op::kRevokeBatch, args);
    return {tally.at("revoked").get<std::size_t>(), tally.at("already_revoked").get<std::size_t>()};
  }
  void unrevoke(const std::string& serial) override { daemon_.call(Op::kUnrevoke, {{"serial", serial}}); }
  nlohmann::json show(const std::string& serial) override { return daemon_.call(Op::kShow, {{"serial", serial}}); }
  engine::PublishedCrl publish_crl() override {
    nlohmann::json published = daemon_.call(Op::kPublishCrl);
    auto ask_part = [&](const nlohmann::json& args) { return daemon_.call(Op::kCurrentCrl, args); };
    std::vector<std::uint8_t> der =
        operations::join_crl_parts(ask_part({{"number", published.at("number")}}), ask_part);
    return {published.at("number").get<std::int64_t>(), std::move(der), published.at("file").get<std::string>()};
  }
  nlohmann::json verify_audit(const std::optional<std::string>& expect) override {
    nlohmann::json args = nlohmann::json::object();
    if (expect) args["expect"] = *expect;
    return daemon_.call(Op::kAuditVerify, args);
  }
  nlohmann::json backup(const std::filesystem::path& directory) override {
    return daemon_.call(Op::kBackup, {{"directory", std::filesystem::absolute(directory).lexically_normal().string()}});
  }
  void reload() override { daemon_.call(Op::kReload); }
  nlohmann::json whoami() override { return daemon_.call(Op::kWhoami); }
  void finish() override {}

 private:
  engine::Disposition call_for_disposition(Op op, const nlohmann::json& args) {
    return engine::disposition_from_wire(daemon_.call(op, args));
  }
  operations::DaemonConnection daemon_;
};

}  // namespace

std::unique_ptr<CaService> open_ca_service(const CaContext& context, Asks asks) {
  if (std::optional<operations::DaemonConnection> daemon = operations::DaemonConnection::connect(context.directory)) {
    return std::make_unique<DaemonCa>(std::move(*daemon));
  }
  return std::make_unique<LocalCa>(context, asks);
}

}  // namespace custos::cli
