#include "common/clock.h"

#include <cstdlib>
#include <cstring>

#include "common/error.h"

namespace custos {

std::string rfc3339_utc(std::time_t when) {
  std::tm parts{};
  gmtime_r(&when, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::time_t parse_rfc3339(const std::string& text) {
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
