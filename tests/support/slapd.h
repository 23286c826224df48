// A real OpenLDAP server for a test: slapd on 127.0.0.1 and a free port,
// with a temporary mdb database under `directory` for dc=example,dc=org
// (admin cn=admin,dc=example,dc=org, password "secret"), stopped when the
// object goes.
#pragma once

#include <filesystem>
#include <string>

#include "tests/support/test_token.h"

namespace custos::testing {

class Slapd {
 public:
  explicit Slapd(const std::filesystem::path& directory);
  ~Slapd();
  Slapd(const Slapd&) = delete;
  Slapd& operator=(const Slapd&) = delete;

  const std::string& uri() const { return uri_; }
  // ldapadd as the admin; throws when it fails.
  void add(const std::string& ldif);
  // ldapsearch -LLL of one entry's `attribute`, as the admin.
  CommandResult read(const std::string& dn, const std::string& attribute) const;

 private:
  std::filesystem::path directory_;
  std::string uri_;
  int pid_ = -1;
};

}  // namespace custos::testing
