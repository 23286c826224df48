// The audit log's checkpoints: the CA key on the token signs the chain up
// to its newest entry, and each checkpoint names its predecessor, so that
// rewriting the log consistently needs the token as well as the database
// key (SECURITY.md).
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "appliance/engine/engine.h"
#include "appliance/x509/signed_message.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "storage/audit.h"

namespace custos::engine {
namespace {

constexpr char kNoPredecessor[] = "none";

std::string fingerprint(const storage::AuditCheckpoint& checkpoint) {
  std::vector<std::uint8_t> digest(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(digest.data(), checkpoint.signature.data(), checkpoint.signature.size());
  return to_hex(digest);
}

// What the token signs: a label naming the purpose, this CA's database, the
// checkpoint's place in the sequence, the entry and its hash, and when.
std::vector<std::uint8_t> checkpoint_message(const std::string& database_id, const storage::AuditCheckpoint& checkpoint,
                                             const std::string& previous_fingerprint) {
  std::string text = "custos audit checkpoint v1\ndatabase " + database_id + "\nsequence " +
                     std::to_string(checkpoint.id) + "\nprevious " + previous_fingerprint + "\nentry " +
                     std::to_string(checkpoint.audit_id) + "\nhash " + to_hex(checkpoint.audit_hash) + "\nsigned " +
                     checkpoint.signed_at + "\n";
  return {text.begin(), text.end()};
}

bool signed_by(EVP_PKEY* ca_key, const std::string& database_id, const storage::AuditCheckpoint& checkpoint,
               const std::string& previous_fingerprint) {
  std::optional<hsm::SignatureScheme> scheme = hsm::parse_signature_scheme(checkpoint.scheme);
  return scheme && x509::message_signature_holds(ca_key, *scheme,
                                                 checkpoint_message(database_id, checkpoint, previous_fingerprint),
                                                 checkpoint.signature);
}

}  // namespace

AuditExpectation AuditExpectation::parse(std::string_view text) {
  std::size_t colon = text.find(':');
  AuditExpectation expectation;
  std::string_view number = text.substr(0, colon);
  auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), expectation.sequence);
  if (colon == std::string_view::npos || error != std::errc() || end != number.data() + number.size() ||
      expectation.sequence < 1 || text.size() - colon - 1 != 2 * crypto_hash_sha256_BYTES ||
      text.find_first_not_of("0123456789abcdef", colon + 1) != std::string_view::npos) {
    throw UsageError("--expect takes SEQUENCE:FINGERPRINT as audit verify prints them (a number, a colon and "
                     "64 lowercase hex digits)");
  }
  expectation.fingerprint = text.substr(colon + 1);
  return expectation;
}

nlohmann::json AuditVerification::to_json() const {
  nlohmann::json out = {{"holds", holds()}, {"entries", entries}, {"checkpoints", checkpoints}};
  if (last_checkpoint) {
    out["last_checkpoint"] = *last_checkpoint;
    out["last_signed_entry"] = *last_signed_entry;
    out["last_signed_at"] = *last_signed_at;
    out["last_fingerprint"] = *last_fingerprint;
  }
  out["unsigned_entries"] = entries - last_signed_entry.value_or(0);
  if (first_bad_entry) {
    out["first_bad_entry"] = *first_bad_entry;
    out["problem"] = problem;
  }
  return out;
}

void Engine::checkpoint_audit() {
  // Several processes may share the CA directory: when another signed the
  // next checkpoint first, this one follows it.
  for (int attempt = 0;; ++attempt) {
    try {
      sign_next_checkpoint();
      return;
    } catch (const storage::StateConflict&) {
      if (attempt == 4) throw;
    }
  }
}

void Engine::sign_next_checkpoint() {
  storage::Store& store = store_;
  std::optional<storage::AuditRecord> newest = store.latest_audit_entry();
  if (!newest) return;
  std::optional<storage::AuditCheckpoint> latest = store.latest_audit_checkpoint();
  // Nothing logged since the last checkpoint (or fewer entries than it
  // signed: a log cut short, which verify reports).
  if (latest && newest->id <= latest->audit_id) return;
  const CaConfig& config = ca_.config();
  auto refuse = [](const std::string& why) {
    throw Error("the token signs no audit checkpoint over a log that does not hold: " + why +
                "; see custos audit verify");
  };

  // The log since the last checkpoint, and that checkpoint, must hold.
  std::string previous_fingerprint = kNoPredecessor;
  std::int64_t first_id = 0;
  if (latest) {
    std::string before = kNoPredecessor;
    if (latest->id > 1) {
      std::optional<storage::AuditCheckpoint> prior = store.audit_checkpoint(latest->id - 1);
      if (!prior) refuse("checkpoint " + std::to_string(latest->id - 1) + " is missing");
      before = fingerprint(*prior);
    }
    if (!signed_by(X509_get0_pubkey(ca_certificate_.get()), config.database.id, *latest, before)) {
      refuse("checkpoint " + std::to_string(latest->id) + " is not signed by the CA key");
    }
    previous_fingerprint = fingerprint(*latest);
    first_id = latest->audit_id;
  }
  // Read one entry at a time: a minute of a busy CA's log is tens of
  // thousands of entries, which would otherwise all be held at once.
  storage::AuditChain since(latest ? std::span<const std::uint8_t>(latest->audit_hash) : std::span<const std::uint8_t>());
  bool signed_entry_seen = !latest;
  store.read_audit_log(first_id, [&](const storage::AuditRecord& record) {
    if (!signed_entry_seen) {
      if (record.id != latest->audit_id || record.hash != latest->audit_hash) {
        refuse("entry " + std::to_string(latest->audit_id) + " is not the one checkpoint " +
               std::to_string(latest->id) + " signed");
      }
      signed_entry_seen = true;
      return;
    }
    since.add(record);
  });
  if (!signed_entry_seen) {
    refuse("entry " + std::to_string(latest->audit_id) + " is not the one checkpoint " + std::to_string(latest->id) +
           " signed");
  }
  if (std::optional<std::int64_t> broken = since.first_broken()) {
    refuse("entry " + std::to_string(*broken) + " does not chain");
  }
  if (!since.last_id()) return;

  storage::AuditCheckpoint checkpoint;
  checkpoint.id = latest ? latest->id + 1 : 1;
  checkpoint.audit_id = *since.last_id();
  checkpoint.audit_hash = since.last_hash();
  checkpoint.signed_at = now_rfc3339();
  checkpoint.scheme = std::string(hsm::signature_scheme_name(config.ca.signature));
  checkpoint.signature =
      ca_.token().sign(config.ca.key, config.ca.signature,
                       x509::message_to_be_signed(checkpoint_message(config.database.id, checkpoint, previous_fingerprint)));
  store.add_audit_checkpoint(checkpoint);
}

AuditVerification Engine::verify_audit(const std::optional<AuditExpectation>& expect) {
  std::vector<storage::AuditCheckpoint> checkpoints = store_.audit_checkpoints();
  // The log is read once, one entry at a time, keeping only the hashes
  // of the entries some checkpoint signed.
  std::map<std::int64_t, std::optional<std::vector<std::uint8_t>>> hashes;
  for (const storage::AuditCheckpoint& checkpoint : checkpoints) hashes[checkpoint.audit_id];
  storage::AuditChain chain;
  store_.read_audit_log(0, [&](const storage::AuditRecord& record) {
    chain.add(record);
    if (auto signed_entry = hashes.find(record.id); signed_entry != hashes.end()) {
      signed_entry->second = record.hash;
    }
  });
  AuditVerification result;
  result.entries = chain.entries();
  result.checkpoints = static_cast<std::int64_t>(checkpoints.size());
  auto found_bad = [&](std::int64_t entry, std::string problem) {
    if (!result.first_bad_entry || entry < *result.first_bad_entry) {
      result.first_bad_entry = entry;
      result.problem = std::move(problem);
    }
  };
  if (std::optional<std::int64_t> broken = chain.first_broken()) {
    found_bad(*broken, "entry " + std::to_string(*broken) + " does not chain: it or an entry before it was changed");
  }

  const std::int64_t last_entry = chain.last_id().value_or(0);
  EVP_PKEY* ca_key = X509_get0_pubkey(ca_certificate_.get());
  // Entries up to here are covered by a checkpoint that holds.
  std::int64_t signed_through = 0;
  std::string previous_fingerprint = kNoPredecessor;
  for (const storage::AuditCheckpoint& checkpoint : checkpoints) {
    const std::string name = "checkpoint " + std::to_string(checkpoint.id);
    const std::int64_t expected = result.last_checkpoint.value_or(0) + 1;
    if (checkpoint.id != expected) {
      found_bad(signed_through + 1, "checkpoint " + std::to_string(expected) + " is missing: checkpoints were deleted");
      break;
    }
    if (!signed_by(ca_key, ca_.config().database.id, checkpoint, previous_fingerprint)) {
      found_bad(signed_through + 1, name + " (entry " + std::to_string(checkpoint.audit_id) +
                                        ") is not signed by the CA key: checkpoints were forged or altered");
      break;
    }
    const std::optional<std::vector<std::uint8_t>>& entry = hashes[checkpoint.audit_id];
    if (!entry) {
      found_bad(std::min(last_entry, checkpoint.audit_id - 1) + 1,
                name + " signed entry " + std::to_string(checkpoint.audit_id) + ", which is missing: the log was cut short");
      break;
    }
    if (*entry != checkpoint.audit_hash) {
      found_bad(signed_through + 1, name + " signed a different entry " + std::to_string(checkpoint.audit_id) +
                                        ": entries " + std::to_string(signed_through + 1) + "–" +
                                        std::to_string(checkpoint.audit_id) + " were rewritten");
      break;
    }
    previous_fingerprint = fingerprint(checkpoint);
    signed_through = std::max(signed_through, checkpoint.audit_id);
    result.last_checkpoint = checkpoint.id;
    result.last_signed_entry = signed_through;
    result.last_signed_at = checkpoint.signed_at;
    result.last_fingerprint = previous_fingerprint;
  }

  if (expect) {
    auto noted = std::find_if(checkpoints.begin(), checkpoints.end(),
                              [&](const storage::AuditCheckpoint& checkpoint) { return checkpoint.id == expect->sequence; });
    if (noted == checkpoints.end() || fingerprint(*noted) != expect->fingerprint) {
      found_bad(1, "checkpoint " + std::to_string(expect->sequence) +
                       " is not the one noted: the log and its checkpoints were replaced since");
    }
  }
  return result;
}

}  // namespace custos::engine
