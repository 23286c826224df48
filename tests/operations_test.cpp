// The operation table: one row per call, checked the same way by every side;
// and the status epoch page custosd shares with its front end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <span>
#include <string>

#include "appliance/operations/operations.h"
#include "appliance/operations/status_epoch.h"
#include "common/encoding.h"
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

// The client's side of a CRL read in parts: it asks for each part of the
// same CRL in turn, and refuses a part it did not ask for.
TEST(Operations, ACrlIsJoinedFromItsPartsAndAStrayPartIsRefused) {
  std::vector<std::uint8_t> der(2500);
  for (std::size_t i = 0; i < der.size(); ++i) der[i] = static_cast<std::uint8_t>(i % 253);
  auto part_at = [&](std::int64_t number, std::size_t offset) {
    std::size_t length = std::min<std::size_t>(1000, der.size() - offset);
    return nlohmann::json{{"number", number},
                          {"size", der.size()},
                          {"offset", offset},
                          {"der", to_base64(std::span<const std::uint8_t>(der.data() + offset, length))}};
  };
  std::vector<std::size_t> asked;
  std::vector<std::uint8_t> joined = join_crl_parts(part_at(4, 0), [&](const nlohmann::json& args) {
    EXPECT_EQ(args.at("number"), 4);
    asked.push_back(args.at("offset").get<std::size_t>());
    return part_at(4, asked.back());
  });
  EXPECT_EQ(joined, der);
  EXPECT_EQ(asked, (std::vector<std::size_t>{1000, 2000}));
  // A newer CRL's part in the middle of CRL 4 is not taken for CRL 4's.
  EXPECT_THROW(join_crl_parts(part_at(4, 0), [&](const nlohmann::json& args) {
                 return part_at(5, args.at("offset").get<std::size_t>());
               }),
               Error);
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

// The front end reads what custosd writes, and can neither write the page,
// nor map it writable, nor change its size (which would fault custosd).
TEST(StatusEpoch, TheFrontEndSeesEachAdvanceAndCannotChangeThePage) {
  StatusEpochWriter writer;
  StatusEpochReader reader(FileDescriptor(::fcntl(writer.descriptor(), F_DUPFD_CLOEXEC, 0)));
  std::uint64_t first = reader.current();
  EXPECT_EQ(first, writer.current());
  writer.advance();
  writer.advance();
  EXPECT_EQ(reader.current(), first + 2);

  // What the front end inherits, as it inherits it.
  FileDescriptor inherited(::fcntl(writer.descriptor(), F_DUPFD_CLOEXEC, 0));
  const int fd = inherited.get();
  std::uint64_t forged = 0;
  EXPECT_EQ(::pwrite(fd, &forged, sizeof forged, 0), -1);
  EXPECT_EQ(::ftruncate(fd, 0), -1);
  EXPECT_EQ(::ftruncate(fd, 1 << 20), -1);
  void* writable = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  EXPECT_EQ(writable, MAP_FAILED);
  if (writable != MAP_FAILED) ::munmap(writable, 4096);
  // Nor can a read-only shared mapping be made writable afterwards.
  void* readable = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(readable, MAP_FAILED);
  EXPECT_EQ(::mprotect(readable, 4096, PROT_READ | PROT_WRITE), -1);
  ::munmap(readable, 4096);
  EXPECT_EQ(reader.current(), first + 2);
}

TEST(StatusEpoch, ADescriptorThatIsNotASealedPageIsRefused) {
  FileDescriptor unsealed(::memfd_create("not-sealed", MFD_CLOEXEC));
  ASSERT_TRUE(unsealed);
  ASSERT_EQ(::ftruncate(unsealed.get(), 4096), 0);
  EXPECT_THROW(StatusEpochReader{std::move(unsealed)}, Error);
  EXPECT_THROW(StatusEpochReader{FileDescriptor(::open("/dev/null", O_RDONLY | O_CLOEXEC))}, Error);
}

}  // namespace
}  // namespace custos::operations
