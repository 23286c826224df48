#include "common/address.h"

#include <algorithm>
#include <cctype>

#include "common/error.h"

namespace custos {

std::pair<std::string, int> split_host_port(const std::string& address) {
  std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    throw UsageError("'" + address + "' is not HOST:PORT");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port_text = address.substr(colon + 1);
  if (!std::all_of(port_text.begin(), port_text.end(), [](char c) { return std::isdigit(c) != 0; }) ||
      port_text.size() > 5 || std::stoi(port_text) > 65535) {
    throw UsageError("'" + address + "' has no valid port");
  }
  return {host, std::stoi(port_text)};
}

}  // namespace custos
