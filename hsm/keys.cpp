#include "hsm/keys.h"

namespace custos::hsm {

std::optional<OaepDigest> parse_oaep_digest(std::string_view name) {
  if (name == "sha256") return OaepDigest::kSha256;
  if (name == "sha1") return OaepDigest::kSha1;
  return std::nullopt;
}

std::string_view oaep_digest_name(OaepDigest digest) { return digest == OaepDigest::kSha256 ? "sha256" : "sha1"; }

}  // namespace custos::hsm
