// PIN sources: a file only its owner can read, stdin, CUSTOS_PIN_FILE.
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.h"
#include "hsm/pin.h"
#include "tests/support/test_token.h"

namespace custos::hsm {
namespace {

using testing::TestToken;

TEST(Pin, FileReadableByOthersIsRefused) {
  auto path = TestToken::instance().make_directory("pin") / "open.pin";
  testing::write_file(path, "1234\n", 0644);
  try {
    read_pin({.file = path});
    FAIL() << "read a PIN from a world-readable file";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("has mode 0644"), std::string::npos) << error.what();
  }
}

TEST(Pin, PrivateFileIsReadWithoutTheNewline) {
  auto path = TestToken::instance().make_directory("pin") / "private.pin";
  testing::write_file(path, "1234\n", 0600);
  SecureBuffer pin = read_pin({.file = path});
  EXPECT_EQ(pin.chars(), "1234");
}

TEST(Pin, EnvironmentNamesTheFile) {
  auto path = TestToken::instance().make_directory("pin") / "env.pin";
  testing::write_file(path, "98765\r\n", 0400);
  ::setenv("CUSTOS_PIN_FILE", path.c_str(), 1);
  SecureBuffer pin = read_pin({});
  ::unsetenv("CUSTOS_PIN_FILE");
  EXPECT_EQ(pin.chars(), "98765");
}

TEST(Pin, NoSourceIsAUsageError) {
  ::unsetenv("CUSTOS_PIN_FILE");
  EXPECT_THROW(read_pin({}), UsageError);
}

TEST(Pin, TwoSourcesAreAUsageError) {
  EXPECT_THROW(read_pin({.file = "/dev/null", .from_stdin = true}), UsageError);
}

}  // namespace
}  // namespace custos::hsm
