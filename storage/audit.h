// The audit log's hash chain: each entry's hash covers the previous entry's
// hash and the entry's own fields, so an edit, insertion or deletion
// anywhere breaks every hash after it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "storage/store.h"

namespace custos::storage {

constexpr std::size_t kAuditHashBytes = 32;

// SHA-256 (libsodium) over the previous hash and the length-prefixed fields.
std::vector<std::uint8_t> audit_hash(std::span<const std::uint8_t> previous_hash, std::int64_t id,
                                     const std::string& at, const std::string& actor, const std::string& event,
                                     const std::string& detail);

// Follows the chain one entry at a time, so that a log of any length is
// checked in constant memory (Store::read_audit_log).
class AuditChain {
 public:
  // The first entry must follow `previous_hash`: all zeros, the default,
  // for a log read from its start.
  explicit AuditChain(std::span<const std::uint8_t> previous_hash = {});

  // Takes the next entry; once one does not chain, the chain stays broken
  // at it.
  void add(const AuditRecord& record);

  std::optional<std::int64_t> first_broken() const { return first_broken_; }
  std::int64_t entries() const { return entries_; }
  // The newest entry taken, if any: its id and hash.
  std::optional<std::int64_t> last_id() const { return last_id_; }
  const std::vector<std::uint8_t>& last_hash() const { return previous_; }

 private:
  std::vector<std::uint8_t> previous_;
  std::optional<std::int64_t> first_broken_;
  std::optional<std::int64_t> last_id_;
  std::int64_t entries_ = 0;
};

// The id of the first entry whose chain does not hold, or nullopt.
std::optional<std::int64_t> first_broken_audit_entry(const std::vector<AuditRecord>& records,
                                                     std::span<const std::uint8_t> previous_hash = {});

}  // namespace custos::storage
