// Context travels with an error without changing what it is: the type and
// its fields survive rethrow_with_context, so callers (and the CLI and HTTP
// mappings) decide on the kind, never on the text.
#include <gtest/gtest.h>

#include "common/error.h"
#include "hsm/error.h"
#include "storage/sqlite.h"
#include "storage/store.h"

namespace custos {
namespace {

template <typename Thrown>
void in_two_steps(const Thrown& error) {
  try {
    try {
      throw error;
    } catch (...) {
      rethrow_with_context("signing the certificate");
    }
  } catch (...) {
    rethrow_with_context("issuing request 7");
  }
}

TEST(Errors, ATokensErrorKeepsItsTypeAndReturnValueThroughContext) {
  try {
    in_two_steps(hsm::Pkcs11Error("C_Sign", CKR_DEVICE_REMOVED));
    FAIL() << "nothing thrown";
  } catch (const hsm::Pkcs11Error& error) {
    EXPECT_EQ(error.rv(), static_cast<CK_RV>(CKR_DEVICE_REMOVED));
    EXPECT_STREQ(error.what(), "issuing request 7: signing the certificate: C_Sign: CKR_DEVICE_REMOVED");
  }
}

TEST(Errors, StoreErrorsKeepTheirTypesThroughContext) {
  EXPECT_THROW(in_two_steps(storage::StateConflict("request 7 is issued")), storage::StateConflict);
  EXPECT_THROW(in_two_steps(storage::SerialCollision("taken")), storage::SerialCollision);
  try {
    in_two_steps(storage::StorageError("disk full", 13));
  } catch (const storage::StorageError& error) {
    EXPECT_EQ(error.code(), 13);
  }
  EXPECT_THROW(in_two_steps(UsageError("--state must be …")), UsageError);
}

TEST(Errors, AnythingElseBecomesAnErrorWithItsMessage) {
  try {
    in_two_steps(std::out_of_range("map::at"));
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "issuing request 7: signing the certificate: map::at");
  }
}

}  // namespace
}  // namespace custos
