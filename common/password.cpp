#include "common/password.h"

#include <sodium.h>

#include "common/error.h"

namespace custos {

std::string hash_password(const std::string& password) {
  if (sodium_init() < 0) throw Error("libsodium failed to initialise");
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password.c_str(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw Error("hashing the password: out of memory");
  }
  return hash;
}

}  // namespace custos
