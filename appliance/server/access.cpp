#include "appliance/server/access.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "appliance/x509/certificate.h"
#include "common/encoding.h"

namespace custos::server {
namespace {

constexpr std::int64_t kPasswordCacheSeconds = 300;
constexpr std::size_t kMaxCachedPasswords = 4096;

std::string role_list(const std::vector<engine::Role>& roles) {
  std::string text;
  for (engine::Role role : roles) text += (text.empty() ? "" : " or ") + std::string(engine::role_name(role));
  return text;
}

}  // namespace

bool Caller::holds(engine::Role role) const { return std::find(roles.begin(), roles.end(), role) != roles.end(); }

Access::Access(engine::RolesSection roles, std::map<std::string, std::string> users)
    : roles_(std::move(roles)), users_(std::move(users)), own_uid_(::geteuid()) {
  if (sodium_init() < 0) throw Error("libsodium failed to initialise");
  cache_key_.resize(crypto_generichash_KEYBYTES);
  randombytes_buf(cache_key_.data(), cache_key_.size());
}

std::vector<engine::Role> Access::roles_of(const std::string& identity) const {
  // The account custosd runs as is the owner, as it is of the CLI in local mode.
  return engine::roles_held(roles_, identity, "uid:" + std::to_string(own_uid_));
}

Caller Access::from_uid(uid_t uid) const {
  Caller caller;
  caller.identity = "uid:" + std::to_string(uid);
  caller.actor = "custosd socket " + caller.identity;
  caller.roles = roles_of(caller.identity);
  caller.authenticated = true;
  return caller;
}

Caller Access::from_http(const nlohmann::json& description) {
  Caller caller;
  std::string address = description.value("address", "");
  if (description.contains("certificate")) {
    caller.certificate = from_base64(description.at("certificate").get<std::string>());
    // The identity is the fingerprint of the bytes; whether they are a
    // certificate the CA issued that still stands is the engine's to say
    // (Engine::client_certificate, asked before any call that carries one).
    // Parsing here too would decode the key a second time per call.
    caller.identity = "cert:" + x509::sha256_fingerprint(caller.certificate);
  } else if (description.contains("user")) {
    std::string user = description.at("user").get<std::string>();
    if (!password_matches(user, description.value("password", ""))) {
      throw Unauthenticated("wrong user name or password");
    }
    caller.identity = "user:" + user;
  } else {
    caller.identity = "anonymous";
    caller.actor = "https anonymous from " + address;
    return caller;
  }
  caller.authenticated = true;
  caller.roles = roles_of(caller.identity);
  caller.actor = "https " + caller.identity + " from " + address;
  return caller;
}

bool Access::password_matches(const std::string& user, const std::string& password) {
  auto found = users_.find(user);
  if (found == users_.end()) {
    // Spend the same time as a real check, so a name's existence does not show.
    if (!users_.empty()) {
      [[maybe_unused]] int ignored =
          crypto_pwhash_str_verify(users_.begin()->second.c_str(), password.c_str(), password.size());
    }
    return false;
  }
  std::vector<std::uint8_t> digest(crypto_generichash_BYTES);
  std::string message = user + '\0' + password + '\0' + found->second;
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), cache_key_.data(), cache_key_.size());
  sodium_memzero(message.data(), message.size());
  std::string cache_entry = to_hex(digest);
  std::int64_t now = std::time(nullptr);
  {
    std::lock_guard lock(cache_mutex_);
    auto cached = verified_until_.find(cache_entry);
    if (cached != verified_until_.end() && cached->second > now) return true;
  }
  if (crypto_pwhash_str_verify(found->second.c_str(), password.c_str(), password.size()) != 0) return false;
  std::lock_guard lock(cache_mutex_);
  if (verified_until_.size() >= kMaxCachedPasswords) verified_until_.clear();
  verified_until_[cache_entry] = now + kPasswordCacheSeconds;
  return true;
}

void Access::require(const Caller& caller, const std::vector<engine::Role>& roles) {
  for (engine::Role role : roles) {
    if (caller.holds(role)) return;
  }
  throw Forbidden(caller.identity + " may not do this: it needs the " + role_list(roles) + " role", roles.front());
}


}  // namespace custos::server
