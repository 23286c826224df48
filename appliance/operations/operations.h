// The calls custosd answers, in one table: each row is an operation's name,
// the roles that may make it, and its arguments by name and type. The local
// socket's client (the CLI), the HTTP front end's engine link and custosd's
// dispatcher all read this table, so a call is spelled once and checked the
// same way on both sides. custosd binds one handler to each Op in a switch
// the compiler checks for completeness (appliance/server/api.cpp): adding
// an operation is one enumerator, one row here and one handler there.
//
//   const Operation& submit = operation(Op::kSubmit);
//   check_arguments(submit, {{"csr", "…"}});   // throws UsageError
//   connection.call(Op::kRetrieve, {{"id", 7}});
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace custos::operations {

// The most requests one `list` answer carries, whatever the caller asks:
// with the longest messages they still fit one frame (1 MiB). A client
// asks again with "after" (the last id it got) for the next page.
constexpr std::int64_t kMaxListPage = 250;

// The most serials one `revoke_batch` call carries (one transaction):
// the CLI sends them normalized (engine::normalize_serial), at most 40
// hex digits, so 20,000 make at most 880 KB of JSON, which fits a frame
// (1 MiB); a batch commits in a second or two. Larger batches write fewer
// pages per revocation, as more of the certificates on one page change
// together. The CLI sends a longer list in batches.
constexpr std::size_t kMaxRevocationBatch = 20000;

// A CRL crosses the socket in parts of protocol::kCrlPartBytes, so that no
// CRL is bounded by a frame: current_crl answers {number, this_update,
// next_update, size, offset, der} with the part at `offset` (default 0) of
// CRL `number` (default the current one). join_crl_parts takes that first
// answer and asks `ask_part` (a current_crl call with these arguments) for
// the rest of the same CRL; it returns the CRL's DER.
std::vector<std::uint8_t> join_crl_parts(const nlohmann::json& first,
                                         const std::function<nlohmann::json(const nlohmann::json& args)>& ask_part);

// The roles of the common-criteria CA profile. A requester needs none.
enum class Role { kAdministrator, kOfficer, kAuditor, kOperator };
std::string_view role_name(Role role);  // "administrator", …
std::optional<Role> parse_role(std::string_view name);

enum class Op {
  kSubmit,
  kEnroll,
  kRetrieve,
  kShow,
  kList,
  kCurrentCrl,
  kCaCerts,
  kOcsp,
  kBackup,
  kAuditVerify,
  kWhoami,
  kReload,
  kResubmit,
  kDeny,
  kSetAttribute,
  kSetExtension,
  kRemoveExtension,
  kRevoke,
  kRevokeBatch,
  kUnrevoke,
  kPublishCrl,
};

enum class ArgumentType {
  kText,     // a JSON string
  kInteger,  // a JSON integer
  kBoolean,  // true or false
  kBytes,    // a JSON string of base64
  kStrings,  // an object of strings
  kTexts,    // an array of strings
};

struct Argument {
  std::string_view name;
  ArgumentType type;
  bool required;
};

// Who may make a call beyond its roles: anyone (requesters, relying
// parties), or a caller holding one of `roles`.
struct Operation {
  Op op;
  std::string_view name;     // as it crosses the socket: "submit", "set_attr", …
  std::vector<Role> roles;   // empty: anyone; else one of these
  std::vector<Argument> arguments;
  bool local_only = false;   // through the local socket only (never from custos-http)
};

const std::vector<Operation>& operation_table();
const Operation& operation(Op op);
// The row named `name`; throws UsageError("unknown call '…'") otherwise.
const Operation& operation_named(std::string_view name);

// `args` against the row: an object, every required argument present,
// each of its type, none the row does not name. Throws UsageError naming
// the argument.
void check_arguments(const Operation& operation, const nlohmann::json& args);

// The kinds of failure a caller is told, which the CLI maps to its exit
// status and the front end to an HTTP status:
//   usage, bad_request → 2 / 400; unauthenticated → 401; forbidden → 403;
//   not_found → 404; conflict → 409; failed → 1 / 500; unavailable → 503.
enum class FailureKind { kUsage, kBadRequest, kUnauthenticated, kForbidden, kNotFound, kConflict, kFailed, kUnavailable };
std::string_view failure_kind_name(FailureKind kind);
FailureKind parse_failure_kind(std::string_view name);  // an unknown name is kFailed
int http_status(FailureKind kind);

// The answers: {"ok": true, "result": …} or {"ok": false, "kind", "error"}.
nlohmann::json success(nlohmann::json result);
nlohmann::json failure(FailureKind kind, const std::string& message);

}  // namespace custos::operations
