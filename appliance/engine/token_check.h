// `custos token check`: what a token offers Custos, found by trying, before
// a CA is made on it. Lists the token and its library, the quirks-table
// row in force, the mechanisms; for each key type, generates a scratch key
// pair, signs with the scheme a CA would use and verifies the signature with
// OpenSSL; for each database-key method, provisions it, derives the key
// twice and compares. Every scratch object is destroyed again.
//
//   TokenCheck check = check_token(options);
//   std::cout << check.to_text();
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "appliance/engine/authority.h"

namespace custos::engine {

struct TokenTrial {
  std::string name;  // "ec-p256", "rsa-oaep"
  bool works = false;
  std::string detail;  // the scheme used, or why it does not work
};

struct TokenCheck {
  std::string module;
  std::string library;  // the library's manufacturer (C_GetInfo)
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial;
  std::string quirks;  // the row's name and why, or that the standard's defaults apply
  std::vector<std::string> mechanisms;
  std::vector<TokenTrial> key_types;
  std::vector<TokenTrial> database_key_methods;
  std::string chosen_database_key_method;  // what init would choose, or empty

  nlohmann::json to_json() const;
  std::string to_text() const;
};

TokenCheck check_token(const TokenOptions& options);

}  // namespace custos::engine
