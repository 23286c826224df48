// Atomic writes replace regular files whole, and never replace a device or
// a FIFO that the user named as output (`--out /dev/stdout`).
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/files.h"
#include "tests/support/test_token.h"

namespace custos {
namespace {

// The store's form of a time is read by arithmetic, not strptime: it gives
// what the general path gives for the same instant, at leap days, the
// ends of centuries and after 2038, and refuses what strptime refuses.
TEST(Rfc3339, TheStoresFormReadsAsTheGeneralPathReadsIt) {
  for (std::time_t when : {std::time_t{0}, std::time_t{951'782'400} /* 2000-02-29 */, std::time_t{-631'152'000},
                           std::time_t{4'107'542'400} /* 2100-03-01 */, std::time_t{2'147'483'648}}) {
    for (std::time_t step = 0; step < 400 * 86'400; step += 86'400 + 3'599) {
      std::string text = rfc3339_utc(when + step);
      std::string with_fraction = text.substr(0, 19) + ".0Z";  // not the store's form: the general path
      ASSERT_EQ(parse_rfc3339(text), when + step) << text;
      ASSERT_EQ(parse_rfc3339(with_fraction), when + step) << with_fraction;
    }
  }
  EXPECT_THROW(parse_rfc3339("2026-13-01T00:00:00Z"), Error);
  EXPECT_THROW(parse_rfc3339("2026-12-01T24:00:00Z"), Error);
  EXPECT_THROW(parse_rfc3339("2026-12-01 00:00:00Z"), Error);
}

TEST(WriteFileAtomic, ReplacesARegularFileWhole) {
  std::filesystem::path path = testing::TestToken::instance().make_directory("files") / "out.txt";
  testing::write_file(path, "old contents that are longer");
  write_file_atomic(path, std::string("new"), 0640);
  EXPECT_EQ(testing::read_file(path), "new");
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0640u);
}

TEST(WriteFileAtomic, WritesIntoADeviceOrFifoWithoutReplacingIt) {
  write_file_atomic("/dev/null", std::string("discarded"));
  struct stat info {};
  ASSERT_EQ(::stat("/dev/null", &info), 0);
  EXPECT_TRUE(S_ISCHR(info.st_mode)) << "/dev/null was replaced";

  std::filesystem::path fifo = testing::TestToken::instance().make_directory("files") / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::FILE* keep_open = std::fopen(fifo.c_str(), "r+");  // a reader, so the write below does not block
  write_file_atomic(fifo, std::string("hello"));
  std::fclose(keep_open);
  ASSERT_EQ(::stat(fifo.c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode)) << "the FIFO was replaced";
}

}  // namespace
}  // namespace custos
