#include "common/error.h"

#include <exception>

namespace custos {

void rethrow_with_context(const std::string& step) {
  try {
    throw;
  } catch (const Error& e) {
    e.rethrow_in(step);
  } catch (const std::exception& e) {
    throw Error(step + ": " + e.what());
  }
  // Not reached: every branch throws (GCC does not see it through the
  // virtual rethrow_in).
  std::terminate();
}

}  // namespace custos
