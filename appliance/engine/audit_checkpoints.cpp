// The audit log's checkpoints: the CA key on the token signs the chain up
// to its newest entry, so that rewriting the log consistently needs the
// token as well as the database key (SECURITY.md).
#include <algorithm>
#include <map>

#include "appliance/engine/engine.h"
#include "appliance/x509/signed_message.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "storage/audit.h"

namespace custos::engine {
namespace {

// What the token signs: a label naming the purpose, this CA's database, the
// entry and its hash, and when.
std::vector<std::uint8_t> checkpoint_message(const std::string& database_id, std::int64_t audit_id,
                                             std::span<const std::uint8_t> audit_hash, const std::string& signed_at) {
  std::string text = "custos audit checkpoint v1\ndatabase " + database_id + "\nentry " + std::to_string(audit_id) +
                     "\nhash " + to_hex(audit_hash) + "\nsigned " + signed_at + "\n";
  return {text.begin(), text.end()};
}

}  // namespace

nlohmann::json AuditVerification::to_json() const {
  nlohmann::json out = {{"holds", holds()}, {"entries", entries}, {"checkpoints", checkpoints}};
  if (last_signed_entry) {
    out["last_signed_entry"] = *last_signed_entry;
    out["last_signed_at"] = *last_signed_at;
  }
  out["unsigned_entries"] = entries - last_signed_entry.value_or(0);
  if (first_bad_entry) {
    out["first_bad_entry"] = *first_bad_entry;
    out["problem"] = problem;
  }
  return out;
}

void Engine::checkpoint_audit() {
  std::optional<storage::AuditRecord> newest = ca_.store().latest_audit_entry();
  if (!newest) return;
  std::vector<storage::AuditCheckpoint> checkpoints = ca_.store().audit_checkpoints();
  if (!checkpoints.empty() && checkpoints.back().audit_id == newest->id) return;
  const CaConfig& config = ca_.config();
  storage::AuditCheckpoint checkpoint;
  checkpoint.audit_id = newest->id;
  checkpoint.audit_hash = newest->hash;
  checkpoint.signed_at = now_rfc3339();
  checkpoint.scheme = std::string(hsm::signature_scheme_name(config.ca.signature));
  checkpoint.signature = ca_.token().sign(
      config.ca.key, config.ca.signature,
      x509::message_to_be_signed(
          checkpoint_message(config.database.id, checkpoint.audit_id, checkpoint.audit_hash, checkpoint.signed_at)));
  ca_.store().add_audit_checkpoint(checkpoint);
}

AuditVerification Engine::verify_audit() {
  std::vector<storage::AuditRecord> records = ca_.store().audit_log();
  std::vector<storage::AuditCheckpoint> checkpoints = ca_.store().audit_checkpoints();
  AuditVerification result;
  result.entries = static_cast<std::int64_t>(records.size());
  result.checkpoints = static_cast<std::int64_t>(checkpoints.size());
  auto found_bad = [&](std::int64_t entry, std::string problem) {
    if (!result.first_bad_entry || entry < *result.first_bad_entry) {
      result.first_bad_entry = entry;
      result.problem = std::move(problem);
    }
  };
  if (std::optional<std::int64_t> broken = storage::first_broken_audit_entry(records)) {
    found_bad(*broken, "entry " + std::to_string(*broken) + " does not chain: it or an entry before it was changed");
  }

  std::map<std::int64_t, std::vector<std::uint8_t>> hashes;
  for (const storage::AuditRecord& record : records) hashes[record.id] = record.hash;
  const std::int64_t last_entry = records.empty() ? 0 : records.back().id;
  EVP_PKEY* ca_key = X509_get0_pubkey(ca_certificate_.get());
  // Entries up to here are covered by a checkpoint that holds.
  std::int64_t signed_through = 0;
  for (const storage::AuditCheckpoint& checkpoint : checkpoints) {
    const std::string name = "checkpoint " + std::to_string(checkpoint.id);
    std::optional<hsm::SignatureScheme> scheme = hsm::parse_signature_scheme(checkpoint.scheme);
    std::vector<std::uint8_t> message =
        checkpoint_message(ca_.config().database.id, checkpoint.audit_id, checkpoint.audit_hash, checkpoint.signed_at);
    if (!scheme || !x509::message_signature_holds(ca_key, *scheme, message, checkpoint.signature)) {
      found_bad(signed_through + 1, name + " (entry " + std::to_string(checkpoint.audit_id) +
                                        ") is not signed by the CA key: checkpoints were forged or altered");
      break;
    }
    auto entry = hashes.find(checkpoint.audit_id);
    if (entry == hashes.end()) {
      found_bad(std::min(last_entry, checkpoint.audit_id - 1) + 1,
                name + " signed entry " + std::to_string(checkpoint.audit_id) + ", which is missing: the log was cut short");
      break;
    }
    if (entry->second != checkpoint.audit_hash) {
      found_bad(signed_through + 1, name + " signed a different entry " + std::to_string(checkpoint.audit_id) +
                                        ": entries " + std::to_string(signed_through + 1) + "–" +
                                        std::to_string(checkpoint.audit_id) + " were rewritten");
      break;
    }
    signed_through = std::max(signed_through, checkpoint.audit_id);
    result.last_signed_entry = signed_through;
    result.last_signed_at = checkpoint.signed_at;
  }
  return result;
}

}  // namespace custos::engine
