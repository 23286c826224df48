// Password hashes as [http.users.NAME] password_hash holds them.
#pragma once

#include <string>

namespace custos {

// crypto_pwhash_str of `password` (Argon2id, interactive limits), for
// `custos hash-password`; custosd checks a password against it.
std::string hash_password(const std::string& password);

}  // namespace custos
