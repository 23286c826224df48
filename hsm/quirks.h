// What a token needs beyond the PKCS#11 standard, as one table keyed by
// what the token says it is (CK_TOKEN_INFO manufacturerID and model). The
// token layer codes to the standard and to what a token reports; where a
// token needs more, that is a row here, with the reason, and nowhere else.
//
//   const TokenQuirks& quirks = quirks_for(token.description());
//   if (quirks.serialise_login) …
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hsm/keys.h"
#include "hsm/module.h"
#include "hsm/pkcs11.h"

namespace custos::hsm {

struct TokenQuirks {
  // C_Login results that mean "busy, try again" rather than a PIN or state
  // error, and how many logins to try in all. The standard has no such
  // result: by default a login is tried once. A PIN error is never retried
  // (it counts against the token's lockout).
  std::vector<CK_RV> transient_login_errors;
  int login_attempts = 1;
  // Processes working on one token take turns at opening its sessions and
  // logging in, not only at finding it (a lock file in the CA directory);
  // signing needs no turn.
  bool serialise_login = false;
  // The OAEP digests (for OAEP and MGF1) to try, in order, when the
  // database key is wrapped to an RSA key on the token. By default the
  // token is asked for SHA-256 and, if it refuses, SHA-1.
  std::vector<OaepDigest> oaep_digests = {OaepDigest::kSha256, OaepDigest::kSha1};
  // Usage attributes the token refuses to be told are false when it
  // generates a key pair, because it decides them itself (a key it makes
  // can both sign and decrypt): left out of the templates, so such a key
  // carries the token's values. Every other usage is still stated false.
  std::vector<CK_ATTRIBUTE_TYPE> usages_it_decides;
  // Threads of one process call C_OpenSession one at a time, though the
  // library says it may be called from several (the standard's default).
  bool open_sessions_one_at_a_time = false;
};

struct QuirkRow {
  std::string_view name;          // what `custos config` and `custos token check` show
  std::string_view library;       // the PKCS#11 library's manufacturer (C_GetInfo); empty: any
  std::string_view manufacturer;  // the token's (C_GetTokenInfo), without padding; empty: any
  std::string_view model;         // empty: every model of that manufacturer
  std::string_view why;           // what the token does that the row answers
  TokenQuirks quirks;
};

const std::vector<QuirkRow>& quirk_table();

// The first row naming the token, or null: the standard's defaults.
const QuirkRow* quirk_row_for(std::string_view library, std::string_view manufacturer, std::string_view model);
const QuirkRow* quirk_row_for(const TokenDescription& token);

// The quirks of the first row naming the token, or the defaults.
const TokenQuirks& quirks_for(std::string_view library, std::string_view manufacturer, std::string_view model);
const TokenQuirks& quirks_for(const TokenDescription& token);

}  // namespace custos::hsm
