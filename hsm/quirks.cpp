#include "hsm/quirks.h"

namespace custos::hsm {

const std::vector<QuirkRow>& quirk_table() {
  static const std::vector<QuirkRow> kTable = {
      {"SoftHSMv2", "", "SoftHSM project", "SoftHSM v2",
       "its file store rewrites the token state on every login, and a login in another process at the same moment "
       "can fail with CKR_GENERAL_ERROR, CKR_DEVICE_ERROR or CKR_FUNCTION_FAILED; it decrypts RSA-OAEP with SHA-1 "
       "only (2.6)",
       {{CKR_GENERAL_ERROR, CKR_DEVICE_ERROR, CKR_FUNCTION_FAILED}, 3, true, {OaepDigest::kSha1}, {}}},
      // tpm2-pkcs11 1.9, on any TPM (the token's manufacturer is the TPM's
      // vendor). Measured on swtpm: C_GenerateKeyPair fails with
      // CKR_GENERAL_ERROR ("User specified and TPM specified attr mismatch")
      // when a template says CKA_ENCRYPT or CKA_VERIFY false on the public
      // key, or CKA_DECRYPT or CKA_SIGN false on the private key; it
      // accepts the other usages false, and CKA_MODIFIABLE and CKA_COPYABLE.
      // Opening sessions from several threads at once is not safe in 1.9.
      {"tpm2-pkcs11", "tpm2-software.github.io", "", "",
       "its keys both sign and decrypt (the TPM object's attributes), and it refuses a template that says otherwise; "
       "sessions are opened one thread at a time",
       {{}, 1, false, {OaepDigest::kSha256, OaepDigest::kSha1}, {CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY}, true}},
  };
  return kTable;
}

const QuirkRow* quirk_row_for(std::string_view library, std::string_view manufacturer, std::string_view model) {
  for (const QuirkRow& row : quirk_table()) {
    if ((row.library.empty() || row.library == library) &&
        (row.manufacturer.empty() || row.manufacturer == manufacturer) && (row.model.empty() || row.model == model)) {
      return &row;
    }
  }
  return nullptr;
}

const QuirkRow* quirk_row_for(const TokenDescription& token) {
  return quirk_row_for(token.library, token.manufacturer, token.model);
}

const TokenQuirks& quirks_for(std::string_view library, std::string_view manufacturer, std::string_view model) {
  static const TokenQuirks kStandard;
  const QuirkRow* row = quirk_row_for(library, manufacturer, model);
  return row != nullptr ? row->quirks : kStandard;
}

const TokenQuirks& quirks_for(const TokenDescription& token) {
  return quirks_for(token.library, token.manufacturer, token.model);
}

}  // namespace custos::hsm
