// The operation table: one row per call, checked the same way by every side.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "appliance/operations/operations.h"
#include "common/error.h"

namespace custos::operations {
namespace {

TEST(Operations, EveryOpHasOneRowAndEveryNameIsUnique) {
  std::set<std::string_view> names;
  std::set<Op> ops;
  for (const Operation& row : operation_table()) {
    EXPECT_TRUE(names.insert(row.name).second) << row.name;
    EXPECT_TRUE(ops.insert(row.op).second) << row.name;
    EXPECT_EQ(&operation(row.op), &row);
    EXPECT_EQ(&operation_named(row.name), &row);
    // A call only the local socket may make still names whom it is for.
    if (row.local_only) {
      EXPECT_FALSE(row.roles.empty()) << row.name;
    }
  }
  EXPECT_EQ(ops.size(), static_cast<std::size_t>(Op::kPublishCrl) + 1);
}

TEST(Operations, AnUnknownCallIsAUsageError) {
  EXPECT_THROW(operation_named("drop_tables"), UsageError);
}

TEST(Operations, ArgumentsAreCheckedByNameAndType) {
  const Operation& revoke = operation(Op::kRevoke);
  EXPECT_NO_THROW(check_arguments(revoke, {{"serial", "0a"}, {"reason", "keyCompromise"}}));
  EXPECT_NO_THROW(check_arguments(revoke, {{"serial", "0a"}, {"reason", "keyCompromise"}, {"at", 1700000000}}));
  auto message = [&](const nlohmann::json& args) {
    try {
      check_arguments(revoke, args);
    } catch (const UsageError& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message({{"serial", "0a"}}), "the argument 'reason' is missing");
  EXPECT_EQ(message({{"serial", 10}, {"reason", "x"}}), "'serial' must be a string");
  EXPECT_EQ(message({{"serial", "0a"}, {"reason", "x"}, {"at", "yesterday"}}), "'at' must be an integer");
  EXPECT_EQ(message({{"serial", "0a"}, {"reason", "x"}, {"force", true}}), "unknown argument 'force'");
  EXPECT_EQ(message(nlohmann::json::array()), "the call's args must be an object");
  EXPECT_EQ(message({{"serial", "0a"}, {"reason", "x"}, {"at", 1.5}}), "'at' must be an integer");
}

TEST(Operations, BytesMustBeBase64AndStringsAnObjectOfStrings) {
  const Operation& submit = operation(Op::kSubmit);
  EXPECT_NO_THROW(check_arguments(submit, {{"csr", "MAA="}, {"attributes", {{"profile", "server"}}}}));
  EXPECT_THROW(check_arguments(submit, {{"csr", "not base64!"}}), UsageError);
  EXPECT_THROW(check_arguments(submit, {{"csr", "MAA="}, {"attributes", {{"profile", 3}}}}), UsageError);
}

TEST(Operations, FailureKindsMapToHttpStatusesAndBack) {
  EXPECT_EQ(http_status(parse_failure_kind("forbidden")), 403);
  EXPECT_EQ(http_status(parse_failure_kind("bad_request")), 400);
  EXPECT_EQ(http_status(parse_failure_kind("conflict")), 409);
  EXPECT_EQ(http_status(parse_failure_kind("something new")), 500);
  nlohmann::json answer = failure(FailureKind::kNotFound, "there is no request 9");
  EXPECT_EQ(answer["kind"], "not_found");
  EXPECT_EQ(answer["ok"], false);
  EXPECT_EQ(success({{"a", 1}})["result"]["a"], 1);
}

}  // namespace
}  // namespace custos::operations
