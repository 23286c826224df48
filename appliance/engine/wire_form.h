// The engine's answers as JSON, the one form custosd sends them in and the
// CLI prints them with --json, whether it asked custosd or ran the engine
// itself: a disposition (the certificate as base64 DER) and a request as
// `admin list` shows it.
#pragma once

#include <nlohmann/json.hpp>

#include "appliance/engine/engine.h"
#include "storage/store.h"

namespace custos::engine {

nlohmann::json disposition_to_wire(const Disposition& disposition);
Disposition disposition_from_wire(const nlohmann::json& wire);
nlohmann::json request_record_to_wire(const storage::RequestRecord& record);
// `admin list`: a page of the requests in `state_name` ("" for all), each
// as request_record_to_wire writes it. Throws UsageError for an unknown
// state or a limit below 1.
nlohmann::json list_requests_to_wire(Engine& engine, const std::string& state_name, const storage::RequestPage& page);

}  // namespace custos::engine
