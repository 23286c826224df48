// Template definitions for common/openssl.h.
#pragma once

#include "common/error.h"

namespace custos::ossl {

template <typename T, typename Encoder>
std::vector<std::uint8_t> to_der(T* object, Encoder i2d, const char* what) {
  int length = i2d(object, nullptr);
  if (length <= 0) throw Error(std::string("encoding ") + what + ": " + last_error());
  std::vector<std::uint8_t> der(static_cast<std::size_t>(length));
  unsigned char* cursor = der.data();
  if (i2d(object, &cursor) != length) throw Error(std::string("encoding ") + what + ": " + last_error());
  return der;
}

}  // namespace custos::ossl
