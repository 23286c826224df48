#include "appliance/operations/operations.h"

#include <algorithm>
#include <array>
#include <utility>

#include "common/encoding.h"
#include "common/error.h"

namespace custos::operations {
namespace {

constexpr std::array<std::pair<Role, std::string_view>, 4> kRoleNames{{
    {Role::kAdministrator, "administrator"},
    {Role::kOfficer, "officer"},
    {Role::kAuditor, "auditor"},
    {Role::kOperator, "operator"},
}};

constexpr std::array<std::pair<FailureKind, std::string_view>, 8> kKindNames{{
    {FailureKind::kUsage, "usage"},
    {FailureKind::kBadRequest, "bad_request"},
    {FailureKind::kUnauthenticated, "unauthenticated"},
    {FailureKind::kForbidden, "forbidden"},
    {FailureKind::kNotFound, "not_found"},
    {FailureKind::kConflict, "conflict"},
    {FailureKind::kFailed, "failed"},
    {FailureKind::kUnavailable, "unavailable"},
}};

using enum ArgumentType;
constexpr bool kRequired = true;
constexpr bool kOptional = false;

const std::vector<Operation> kTable = {
    // Requesters and relying parties: anyone (the engine decides what each may see).
    {Op::kSubmit, "submit", {}, {{"csr", kBytes, kRequired}, {"attributes", kStrings, kOptional}}},
    {Op::kEnroll, "enroll", {}, {{"csr", kBytes, kRequired}, {"profile", kText, kOptional}, {"reenroll", kBoolean, kOptional}}},
    {Op::kRetrieve, "retrieve", {}, {{"id", kInteger, kRequired}}},
    {Op::kCurrentCrl, "current_crl", {}, {{"number", kInteger, kOptional}, {"offset", kInteger, kOptional}}},
    {Op::kCaCerts, "ca_certs", {}, {}},
    {Op::kOcsp, "ocsp", {}, {{"request", kBytes, kRequired}}},
    {Op::kWhoami, "whoami", {}, {}},
    // Reading the CA's records.
    {Op::kShow, "show", {Role::kOfficer, Role::kAuditor}, {{"serial", kText, kRequired}}},
    {Op::kList, "list", {Role::kOfficer, Role::kAuditor},
     {{"state", kText, kOptional}, {"after", kInteger, kOptional}, {"limit", kInteger, kOptional}}},
    {Op::kAuditVerify, "audit_verify", {Role::kAuditor}, {{"expect", kText, kOptional}}},
    // Operating the CA.
    {Op::kBackup, "backup", {Role::kOperator}, {{"directory", kText, kRequired}}, /*local_only=*/true},
    {Op::kReload, "reload", {Role::kAdministrator}, {}},
    // The officer's decisions.
    {Op::kResubmit, "resubmit", {Role::kOfficer}, {{"id", kInteger, kRequired}}},
    {Op::kDeny, "deny", {Role::kOfficer}, {{"id", kInteger, kRequired}, {"message", kText, kOptional}}},
    {Op::kSetAttribute, "set_attr", {Role::kOfficer}, {{"id", kInteger, kRequired}, {"name", kText, kRequired}, {"value", kText, kRequired}}},
    {Op::kSetExtension, "set_ext", {Role::kOfficer},
     {{"id", kInteger, kRequired}, {"oid", kText, kRequired}, {"der", kBytes, kRequired}, {"critical", kBoolean, kOptional}}},
    {Op::kRemoveExtension, "remove_ext", {Role::kOfficer}, {{"id", kInteger, kRequired}, {"oid", kText, kRequired}}},
    {Op::kRevoke, "revoke", {Role::kOfficer}, {{"serial", kText, kRequired}, {"reason", kText, kRequired}, {"at", kInteger, kOptional}}},
    {Op::kRevokeBatch, "revoke_batch", {Role::kOfficer},
     {{"serials", kTexts, kRequired}, {"reason", kText, kRequired}, {"at", kInteger, kOptional}}},
    {Op::kUnrevoke, "unrevoke", {Role::kOfficer}, {{"serial", kText, kRequired}}},
    {Op::kPublishCrl, "publish_crl", {Role::kOfficer}, {}},
};

std::string_view type_phrase(ArgumentType type) {
  switch (type) {
    case kText: return "a string";
    case kInteger: return "an integer";
    case kBoolean: return "true or false";
    case kBytes: return "base64";
    case kStrings: return "an object of strings";
    case kTexts: return "an array of strings";
  }
  return "a value";
}

bool has_type(const nlohmann::json& value, ArgumentType type) {
  switch (type) {
    case kText: return value.is_string();
    case kInteger: return value.is_number_integer();
    case kBoolean: return value.is_boolean();
    case kBytes:
      if (!value.is_string()) return false;
      try {
        from_base64(value.get<std::string>());
        return true;
      } catch (const Error&) {
        return false;
      }
    case kStrings:
      return value.is_object() && std::all_of(value.begin(), value.end(), [](const nlohmann::json& v) { return v.is_string(); });
    case kTexts:
      return value.is_array() && std::all_of(value.begin(), value.end(), [](const nlohmann::json& v) { return v.is_string(); });
  }
  return false;
}

}  // namespace

std::string_view role_name(Role role) {
  for (const auto& [value, name] : kRoleNames) {
    if (value == role) return name;
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view name) {
  for (const auto& [value, role_text] : kRoleNames) {
    if (role_text == name) return value;
  }
  return std::nullopt;
}

const std::vector<Operation>& operation_table() { return kTable; }

const Operation& operation(Op op) {
  for (const Operation& row : kTable) {
    if (row.op == op) return row;
  }
  throw Error("the operation table has no row for an operation the code names");
}

const Operation& operation_named(std::string_view name) {
  for (const Operation& row : kTable) {
    if (row.name == name) return row;
  }
  throw UsageError("unknown call '" + std::string(name) + "'");
}

void check_arguments(const Operation& row, const nlohmann::json& args) {
  if (!args.is_object()) throw UsageError("the call's args must be an object");
  for (const Argument& argument : row.arguments) {
    auto found = args.find(std::string(argument.name));
    if (found == args.end()) {
      if (argument.required) throw UsageError("the argument '" + std::string(argument.name) + "' is missing");
      continue;
    }
    if (!has_type(*found, argument.type)) {
      throw UsageError("'" + std::string(argument.name) + "' must be " + std::string(type_phrase(argument.type)));
    }
  }
  for (const auto& item : args.items()) {
    const std::string& name = item.key();
    bool known = std::any_of(row.arguments.begin(), row.arguments.end(),
                             [&](const Argument& argument) { return argument.name == name; });
    if (!known) throw UsageError("unknown argument '" + name + "'");
  }
}

std::string_view failure_kind_name(FailureKind kind) {
  for (const auto& [value, name] : kKindNames) {
    if (value == kind) return name;
  }
  return "failed";
}

FailureKind parse_failure_kind(std::string_view name) {
  for (const auto& [value, kind_text] : kKindNames) {
    if (kind_text == name) return value;
  }
  return FailureKind::kFailed;
}

int http_status(FailureKind kind) {
  switch (kind) {
    case FailureKind::kUsage:
    case FailureKind::kBadRequest: return 400;
    case FailureKind::kUnauthenticated: return 401;
    case FailureKind::kForbidden: return 403;
    case FailureKind::kNotFound: return 404;
    case FailureKind::kConflict: return 409;
    case FailureKind::kUnavailable: return 503;
    case FailureKind::kFailed: return 500;
  }
  return 500;
}

nlohmann::json success(nlohmann::json result) { return {{"ok", true}, {"result", std::move(result)}}; }

nlohmann::json failure(FailureKind kind, const std::string& message) {
  return {{"ok", false}, {"kind", failure_kind_name(kind)}, {"error", message}};
}

std::vector<std::uint8_t> join_crl_parts(const nlohmann::json& first,
                                         const std::function<nlohmann::json(const nlohmann::json& args)>& ask_part) {
  const auto number = first.at("number").get<std::int64_t>();
  const auto size = first.at("size").get<std::size_t>();
  std::vector<std::uint8_t> der = from_base64(first.at("der").get<std::string>());
  der.reserve(size);
  while (der.size() < size) {
    nlohmann::json part = ask_part({{"number", number}, {"offset", der.size()}});
    std::vector<std::uint8_t> bytes = from_base64(part.at("der").get<std::string>());
    if (part.at("number").get<std::int64_t>() != number || part.at("size").get<std::size_t>() != size ||
        part.at("offset").get<std::size_t>() != der.size() || bytes.empty()) {
      throw Error("custosd's part of CRL " + std::to_string(number) + " at offset " + std::to_string(der.size()) +
                  " is not the part asked for");
    }
    der.insert(der.end(), bytes.begin(), bytes.end());
  }
  if (der.size() != size) throw Error("custosd sent CRL " + std::to_string(number) + " longer than its size");
  return der;
}

}  // namespace custos::operations
