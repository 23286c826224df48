// Who is asking custosd, and what they may do. A caller is a local user on
// the socket (SO_PEERCRED uid), a TLS client certificate, an HTTP basic-auth
// user, or nobody; [roles] in custos.toml maps identities to the roles of
// the common-criteria CA profile. Requesters need no role.
//
//   Access access(config.roles, config.http.users, ca_certificate);
//   Caller caller = access.from_http({{"user", "alice"}, {"password", "…"}});
//   access.require(caller, engine::Role::kOfficer);   // throws Forbidden
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "appliance/engine/config.h"
#include "common/error.h"

namespace custos::server {

struct Caller {
  std::string identity;  // "uid:0", "cert:<sha256>", "user:alice", or "anonymous"
  std::string actor;     // for the audit log: the identity and where it came from
  std::vector<engine::Role> roles;
  bool authenticated = false;
  std::vector<std::uint8_t> certificate;  // the TLS client certificate (DER), when there was one

  bool holds(engine::Role role) const;
};

// A call outside the caller's roles; the message names the role it needs.
class Forbidden : public Error {
 public:
  CUSTOS_ERROR_TYPE(Forbidden)
  Forbidden(const std::string& message, engine::Role needed) : Error(message), needed_(needed) {}
  engine::Role needed() const { return needed_; }

 private:
  engine::Role needed_;
};

// Credentials that did not check out.
class Unauthenticated : public Error {
 public:
  CUSTOS_ERROR_TYPE(Unauthenticated)
  using Error::Error;
};

class Access {
 public:
  Access(engine::RolesSection roles, std::map<std::string, std::string> users);

  Caller from_uid(uid_t uid) const;
  // The front end's "caller" object: {"certificate": base64 DER} or
  // {"user", "password"} or {}, with "address".
  Caller from_http(const nlohmann::json& caller);

  // Throws Forbidden unless the caller holds one of `roles`.
  static void require(const Caller& caller, const std::vector<engine::Role>& roles);

 private:
  std::vector<engine::Role> roles_of(const std::string& identity) const;
  bool password_matches(const std::string& user, const std::string& password);

  engine::RolesSection roles_;
  std::map<std::string, std::string> users_;
  uid_t own_uid_;
  // Verified passwords, by a keyed hash of user and password, so that a
  // client sending the same credentials again costs no second Argon2 run.
  std::mutex cache_mutex_;
  std::map<std::string, std::int64_t> verified_until_;
  std::vector<std::uint8_t> cache_key_;
};

}  // namespace custos::server
