#include "common/clock.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "common/error.h"

namespace custos {

std::string rfc3339_utc(std::time_t when) {
  std::tm parts{};
  gmtime_r(&when, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

namespace {

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (the
// civil-from-days arithmetic of Howard Hinnant's date algorithms).
std::int64_t days_from_civil(int year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int era = (year >= 0 ? year : year - 399) / 400;
  const int year_of_era = year - era * 400;
  const int day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return std::int64_t{era} * 146097 + day_of_era - 719468;
}

// The form rfc3339_utc writes (YYYY-MM-DDTHH:MM:SSZ), the one the store
// holds, read by arithmetic: strptime and timegm (which looks the time
// zone up on every call) were a tenth of a CRL entry's cost. Any other
// form is left to them.
std::optional<std::time_t> parse_canonical_utc(const std::string& text) {
  static constexpr char kShape[] = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != sizeof kShape - 1) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (kShape[i] == 'd' ? (text[i] < '0' || text[i] > '9') : text[i] != kShape[i]) return std::nullopt;
  }
  auto number = [&](std::size_t at, std::size_t digits) {
    int value = 0;
    for (std::size_t i = at; i < at + digits; ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  const int month = number(5, 2), day = number(8, 2), hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  return static_cast<std::time_t>(days_from_civil(number(0, 4), month, day) * 86400 + hour * 3600 + minute * 60 + second);
}

}  // namespace

std::time_t parse_rfc3339(const std::string& text) {
  if (std::optional<std::time_t> fast = parse_canonical_utc(text)) return *fast;
  std::tm parts{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &parts);
  if (rest == nullptr) throw Error("'" + text + "' is not an RFC 3339 time such as 2026-11-23T05:30:00Z");
  if (*rest == '.') {  // fractions of a second are accepted and dropped
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  long offset_seconds = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if ((*rest == '+' || *rest == '-') && std::strlen(rest) == 6 && rest[3] == ':') {
    int hours = std::atoi(std::string(rest + 1, 2).c_str());
    int minutes = std::atoi(std::string(rest + 4, 2).c_str());
    offset_seconds = (rest[0] == '+' ? 1 : -1) * (hours * 3600L + minutes * 60L);
    rest += 6;
  } else {
    throw Error("'" + text + "' has no time zone: end it with Z or an offset such as +02:00");
  }
  if (*rest != '\0') throw Error("'" + text + "' is not an RFC 3339 time such as 2026-11-23T05:30:00Z");
  return timegm(&parts) - offset_seconds;
}

}  // namespace custos
