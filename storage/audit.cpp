#include "storage/audit.h"

#include <sodium.h>

namespace custos::storage {
namespace {

void absorb(crypto_hash_sha256_state& state, std::string_view field) {
  std::uint8_t length[8];
  std::uint64_t size = field.size();
  for (int i = 7; i >= 0; --i, size >>= 8) length[i] = static_cast<std::uint8_t>(size & 0xff);
  crypto_hash_sha256_update(&state, length, sizeof length);
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(field.data()), field.size());
}

}  // namespace

std::vector<std::uint8_t> audit_hash(std::span<const std::uint8_t> previous_hash, std::int64_t id,
                                     const std::string& at, const std::string& actor, const std::string& event,
                                     const std::string& detail) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, previous_hash.data(), previous_hash.size());
  absorb(state, std::to_string(id));
  absorb(state, at);
  absorb(state, actor);
  absorb(state, event);
  absorb(state, detail);
  std::vector<std::uint8_t> hash(crypto_hash_sha256_BYTES);
  crypto_hash_sha256_final(&state, hash.data());
  return hash;
}

AuditChain::AuditChain(std::span<const std::uint8_t> previous_hash) : previous_(kAuditHashBytes, 0) {
  if (!previous_hash.empty()) previous_.assign(previous_hash.begin(), previous_hash.end());
}

void AuditChain::add(const AuditRecord& record) {
  ++entries_;
  last_id_ = record.id;
  if (!first_broken_ &&
      record.hash != audit_hash(previous_, record.id, record.at, record.actor, record.event, record.detail)) {
    first_broken_ = record.id;
  }
  previous_ = record.hash;
}

std::optional<std::int64_t> first_broken_audit_entry(const std::vector<AuditRecord>& records,
                                                     std::span<const std::uint8_t> previous_hash) {
  AuditChain chain(previous_hash);
  for (const AuditRecord& record : records) chain.add(record);
  return chain.first_broken();
}

}  // namespace custos::storage
