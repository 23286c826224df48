// Atomic writes replace regular files whole, and never replace a device or
// a FIFO that the user named as output (`--out /dev/stdout`).
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/files.h"
#include "tests/support/test_token.h"

namespace custos {
namespace {

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
