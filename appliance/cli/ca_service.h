// What the request-flow commands ask of a CA, answered either by the engine
// in this process (local mode: the CLI opens the token and the database)
// or by the custosd serving the directory, over its socket. The commands
// print the same either way.
//
//   std::unique_ptr<CaService> ca = open_ca_service(context);
//   engine::Disposition d = ca->retrieve(7);
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "appliance/cli/flow_commands.h"
#include "appliance/engine/engine.h"

namespace custos::cli {

class CaService {
 public:
  virtual ~CaService() = default;
  virtual engine::Disposition submit(const std::vector<std::uint8_t>& request,
                                     const std::map<std::string, std::string>& attributes) = 0;
  virtual engine::Disposition retrieve(std::int64_t id) = 0;
  // Entries as `admin list --json` prints them (README): all of the page,
  // however many answers from custosd it takes.
  virtual nlohmann::json list(const std::string& state, const storage::RequestPage& page) = 0;
  virtual engine::Disposition resubmit(std::int64_t id) = 0;
  virtual engine::Disposition deny(std::int64_t id, const std::string& message) = 0;
  virtual void set_attribute(std::int64_t id, const std::string& name, const std::string& value) = 0;
  virtual void set_extension(std::int64_t id, const std::string& oid, const std::vector<std::uint8_t>& der,
                             bool critical) = 0;
  virtual void remove_extension(std::int64_t id, const std::string& oid) = 0;
  virtual void revoke(const std::string& serial, const std::string& reason, std::optional<std::time_t> at) = 0;
  // At most operations::kMaxRevocationBatch serials, in one transaction.
  virtual engine::RevocationTally revoke_batch(const std::vector<std::string>& serials, const std::string& reason,
                                               std::optional<std::time_t> at) = 0;
  virtual void unrevoke(const std::string& serial) = 0;
  // engine::CertificateStatus::to_json().
  virtual nlohmann::json show(const std::string& serial) = 0;
  virtual engine::PublishedCrl publish_crl() = 0;
  // engine::AuditVerification::to_json(); `expect` is "SEQUENCE:FINGERPRINT".
  virtual nlohmann::json verify_audit(const std::optional<std::string>& expect) = 0;
  // engine::BackupReport::to_json().
  virtual nlohmann::json backup(const std::filesystem::path& directory) = 0;
  // custosd reads custos.toml again (as on SIGHUP); local mode has nothing
  // to reload.
  virtual void reload() = 0;
  // The caller's identity and roles (ICertAdmin's GetMyRoles):
  // {"identity", "roles", "authenticated"}; "local": true without custosd.
  virtual nlohmann::json whoami() = 0;
  // The end of a command. Locally: the exit modules get what an earlier
  // command left in the outbox (this command's own events went at once),
  // the modules get their shutdown, and the token signs an audit checkpoint
  // over what was logged while they end. Through custosd: nothing, custosd
  // does all three in its own time.
  virtual void finish() = 0;
};

// Whether the command will ask the policy module (submit, resubmit): the
// engine in this process then starts it while the CA opens.
enum class Asks { kNothing, kPolicy };

// custosd's when one serves the directory, else the engine in this process.
std::unique_ptr<CaService> open_ca_service(const CaContext& context, Asks asks = Asks::kNothing);

// Opens the CA service, runs `call` on it, finishes the command and returns
// what `call` returned.
template <typename Call>
auto on_ca(const CaContext& context, Call call, Asks asks = Asks::kNothing) {
  std::unique_ptr<CaService> ca = open_ca_service(context, asks);
  if constexpr (std::is_void_v<std::invoke_result_t<Call, CaService&>>) {
    call(*ca);
    ca->finish();
  } else {
    auto result = call(*ca);
    ca->finish();
    return result;
  }
}

}  // namespace custos::cli
