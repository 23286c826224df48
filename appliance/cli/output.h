// What `custos submit` sends, what the commands that answer with a
// disposition (submit, retrieve, admin resubmit, admin deny) write and
// print, and how a command's failure is reported. Shared by the whole
// command line (custos-cli) and by the `custos` program, which answers
// `custos submit` through custosd itself without loading the engine's
// libraries: both print byte for byte the same.
// Knows nothing of the engine: a disposition here is its JSON form
// (request_id, status, message, serial when issued).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace custos::cli {

// The request file may be PEM or DER; the engine enforces the 64 KiB cap,
// this only keeps a mistaken multi-gigabyte path from being read whole.
inline constexpr std::size_t kMaxInputBytes = 16 << 20;

// The CA directory when --dir is not given: $CUSTOS_DIR, else the working
// directory; throws custos::Error when that is gone.
std::filesystem::path default_directory();

// "KEY=VALUE" as {KEY, VALUE}; throws UsageError for anything else.
std::pair<std::string, std::string> split_assignment(const std::string& assignment);

// submit's --attr KEY=VALUE and --profile as the request's attributes (the
// profile is the attribute "profile", over an --attr of that name).
std::map<std::string, std::string> submit_attributes(const std::vector<std::string>& assignments,
                                                     const std::string& profile);

// The arguments of custosd's submit call: the request's bytes as they are
// (custosd parses them) and its attributes.
nlohmann::json submit_call_arguments(std::span<const std::uint8_t> request,
                                     const std::map<std::string, std::string>& attributes);

// Writes `certificate_pem` to `out` (atomically) when there are both, then
// prints `disposition`: its JSON with `json`, else the lines README.md shows.
void print_disposition(const nlohmann::json& disposition, bool json, const std::optional<std::filesystem::path>& out,
                       const std::string& certificate_pem);

// Runs `command` and returns the exit status: 0, else 2 for a UsageError
// and 1 for any other failure, named in one line on stderr.
int exit_status_of(const std::function<void()>& command);

}  // namespace custos::cli
