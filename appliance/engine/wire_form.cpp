#include "appliance/engine/wire_form.h"

#include "common/encoding.h"
#include "common/error.h"

namespace custos::engine {

nlohmann::json request_record_to_wire(const storage::RequestRecord& record) {
  nlohmann::json entry = {{"request_id", record.id},
                          {"status", storage::request_state_name(record.state)},
                          {"message", record.message},
                          {"subject", record.subject},
                          {"profile", record.profile},
                          {"submitted_at", record.submitted_at}};
  if (record.serial) entry["serial"] = *record.serial;
  if (record.not_after) entry["not_after"] = *record.not_after;
  if (record.revocation) {
    entry["revoked_at"] = record.revocation->revoked_at;
    entry["revocation_reason"] = record.revocation->reason;
  }
  return entry;
}

nlohmann::json list_requests_to_wire(Engine& engine, const std::string& state_name, const storage::RequestPage& page) {
  std::optional<storage::RequestState> state;
  if (!state_name.empty()) {
    state = storage::parse_request_state(state_name);
    if (!state) throw UsageError("--state must be pending, issued, denied, revoked, failed or received");
  }
  if (page.limit && *page.limit < 1) throw UsageError("--limit must be 1 or more");
  nlohmann::json records = nlohmann::json::array();
  for (const storage::RequestRecord& record : engine.list(state, page)) records.push_back(request_record_to_wire(record));
  return records;
}

nlohmann::json disposition_to_wire(const Disposition& disposition) {
  nlohmann::json wire = disposition.to_json();
  if (!disposition.certificate.empty()) wire["certificate"] = to_base64(disposition.certificate);
  return wire;
}

Disposition disposition_from_wire(const nlohmann::json& wire) {
  Disposition disposition;
  disposition.request_id = wire.at("request_id").get<std::int64_t>();
  std::optional<storage::RequestState> state = storage::parse_request_state(wire.at("status").get<std::string>());
  if (!state) throw Error("custosd answered an unknown status");
  disposition.state = *state;
  if (wire.contains("serial")) disposition.serial = wire.at("serial").get<std::string>();
  disposition.message = wire.value("message", "");
  if (wire.contains("certificate")) disposition.certificate = from_base64(wire.at("certificate").get<std::string>());
  return disposition;
}

}  // namespace custos::engine
