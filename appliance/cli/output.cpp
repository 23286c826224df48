#include "appliance/cli/output.h"

#include <cstdlib>
#include <iostream>
#include <system_error>

#include "common/encoding.h"
#include "common/error.h"
#include "common/files.h"

namespace custos::cli {

std::filesystem::path default_directory() {
  const char* from_environment = std::getenv("CUSTOS_DIR");
  if (from_environment != nullptr && *from_environment != '\0') return from_environment;
  std::error_code error;
  std::filesystem::path here = std::filesystem::current_path(error);
  if (error) throw Error("the working directory: " + error.message() + "; give --dir DIR or set CUSTOS_DIR");
  return here;
}

std::pair<std::string, std::string> split_assignment(const std::string& assignment) {
  std::size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw UsageError("'" + assignment + "' is not KEY=VALUE");
  }
  return {assignment.substr(0, equals), assignment.substr(equals + 1)};
}

std::map<std::string, std::string> submit_attributes(const std::vector<std::string>& assignments,
                                                     const std::string& profile) {
  std::map<std::string, std::string> attributes;
  for (const std::string& assignment : assignments) attributes.insert(split_assignment(assignment));
  if (!profile.empty()) attributes["profile"] = profile;
  return attributes;
}

nlohmann::json submit_call_arguments(std::span<const std::uint8_t> request,
                                     const std::map<std::string, std::string>& attributes) {
  return {{"csr", to_base64(request)}, {"attributes", attributes}};
}

void print_disposition(const nlohmann::json& disposition, bool json, const std::optional<std::filesystem::path>& out,
                       const std::string& certificate_pem) {
  bool written = out && !certificate_pem.empty();
  if (written) write_file_atomic(*out, certificate_pem);
  if (json) {
    std::cout << disposition.dump() << "\n";
    return;
  }
  std::cout << "request " << disposition.at("request_id").get<std::int64_t>() << ": "
            << disposition.at("status").get<std::string>();
  if (disposition.contains("serial")) std::cout << ", serial " << disposition.at("serial").get<std::string>();
  std::cout << "\n";
  std::string message = disposition.value("message", "");
  if (!message.empty()) std::cout << "  " << message << "\n";
  if (written) std::cout << "  certificate written to " << out->string() << "\n";
}

int exit_status_of(const std::function<void()>& command) {
  try {
    command();
    return 0;
  } catch (const UsageError& error) {
    std::cerr << "custos: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "custos: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace custos::cli
