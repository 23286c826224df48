// The whole audit log at once, for tests whose logs are a few entries
// long (the product reads it one entry at a time).
#pragma once

#include <vector>

#include "storage/store.h"

namespace custos::testing {

inline std::vector<storage::AuditRecord> whole_audit_log(storage::Store& store) {
  std::vector<storage::AuditRecord> log;
  store.read_audit_log(0, [&log](const storage::AuditRecord& record) { log.push_back(record); });
  return log;
}

}  // namespace custos::testing
