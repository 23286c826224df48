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

// The id of the first entry whose chain does not hold, or nullopt. The
// first record must follow `previous_hash` (all zeros, the default, for a
// log read from its start).
std::optional<std::int64_t> first_broken_audit_entry(const std::vector<AuditRecord>& records,
                                                     std::span<const std::uint8_t> previous_hash = {});

}  // namespace custos::storage
