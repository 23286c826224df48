#include "hsm/quirks.h"

namespace custos::hsm {

const std::vector<QuirkRow>& quirk_table() {
  static const std::vector<QuirkRow> kTable = {
      {"SoftHSM project", "SoftHSM v2",
       "its file store rewrites the token state on every login, and a login in another process at the same moment "
       "can fail with CKR_GENERAL_ERROR, CKR_DEVICE_ERROR or CKR_FUNCTION_FAILED; it decrypts RSA-OAEP with SHA-1 "
       "only (2.6)",
       {{CKR_GENERAL_ERROR, CKR_DEVICE_ERROR, CKR_FUNCTION_FAILED}, 3, true, {OaepDigest::kSha1}}},
  };
  return kTable;
}

const TokenQuirks& quirks_for(std::string_view manufacturer, std::string_view model) {
  for (const QuirkRow& row : quirk_table()) {
    if (row.manufacturer == manufacturer && (row.model.empty() || row.model == model)) return row.quirks;
  }
  static const TokenQuirks kStandard;
  return kStandard;
}

const TokenQuirks& quirks_for(const TokenDescription& token) { return quirks_for(token.manufacturer, token.model); }

}  // namespace custos::hsm
