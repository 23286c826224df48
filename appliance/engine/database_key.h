// The database key, which exists only while the token is present and
// logged in:
//   hmac-sha256  HMAC-SHA256 on the token under a non-extractable generic
//                secret key, over a fixed label and the database id;
//   rsa-oaep     for tokens that cannot keep generic secret keys (TPM-backed
//                tokens, for one): a random key, encrypted to a
//                non-extractable RSA key on the token and decrypted there.
// Either way the key lives in locked memory and is wiped after use.
#pragma once

#include <optional>

#include "appliance/engine/config.h"
#include "common/secure_buffer.h"
#include "hsm/token.h"

namespace custos::engine {

// hmac-sha256 where the token offers it, else rsa-oaep; an error naming
// the mechanisms when the token offers neither.
DatabaseKeyMethod choose_database_key_method(const hsm::MechanismSet& offered);

struct ProvisionedKey {
  DatabaseSection section;  // what custos.toml records
  SecureBuffer key;         // the 256-bit database key
};

// Creates the token objects for `method` under `label` and returns the
// database key. `created` receives the objects as soon as they exist, so a
// failed init can remove them.
ProvisionedKey provision_database_key(hsm::Token& token, DatabaseKeyMethod method, const std::string& database_id,
                                      const std::string& label, std::vector<hsm::KeyRef>& created);

// The database key of an existing CA, computed on the token.
SecureBuffer derive_database_key(hsm::Token& token, const DatabaseSection& section);

}  // namespace custos::engine
