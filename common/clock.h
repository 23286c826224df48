// Timestamps as Custos writes them: RFC 3339 in UTC, seconds precision
// ("2026-11-23T05:30:00Z").
#pragma once

#include <ctime>
#include <string>

namespace custos {

std::string rfc3339_utc(std::time_t when);
inline std::string now_rfc3339() { return rfc3339_utc(std::time(nullptr)); }

// Reads "YYYY-MM-DDTHH:MM:SSZ" (or with a numeric offset, "+02:00");
// throws custos::Error for anything else.
std::time_t parse_rfc3339(const std::string& text);

}  // namespace custos
