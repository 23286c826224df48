#include "common/error.h"

#include <exception>

namespace custos {

void rethrow_with_context(const std::string& step) {
  try {
    throw;
  } catch (const UsageError& e) {
    throw UsageError(step + ": " + e.what());
  } catch (const std::exception& e) {
    throw Error(step + ": " + e.what());
  }
}

}  // namespace custos
