// Listen addresses as custos.toml and the command line write them.
#pragma once

#include <string>
#include <utility>

namespace custos {

// HOST and PORT of "HOST:PORT" ("[::1]:443" for IPv6); throws UsageError.
std::pair<std::string, int> split_host_port(const std::string& address);

}  // namespace custos
