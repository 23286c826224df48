// builtin:ldap — publishes each issued certificate as userCertificate;binary
// of the directory entry a template names from the certificate's subject,
// and each CRL as certificateRevocationList;binary of the CA's entry, with
// the OpenLDAP client library. hello.config:
//
//   uri            "ldap://127.0.0.1:389"
//   bind_dn        the DN to bind as (simple bind); empty: anonymous
//   bind_password  its password
//   entry          e.g. "cn={cn},ou=people,dc=example,dc=org": {cn} is the
//                  subject's common name, {subject} the whole subject
//                  (RFC 4514), both escaped for a DN
//   ca_entry       the CA's entry, e.g. "cn=Example CA,dc=example,dc=org"
//
// The entries must exist (with pkiUser / pkiCA or inetOrgPerson classes);
// an event whose entry is missing is not acknowledged and comes again. The
// module needs `network = true` in its [[exit]] table.
//
// It is built as custos-exit-ldap.so, which custos-module-host loads for
// builtin:ldap alone (exit_module.cpp) through custos_exit_ldap_create.
#pragma once

#include <string>

#include "modules/exit/exit_module.h"

namespace custos::exit {

class LdapExit final : public ExitModule {
 public:
  protocol::HelloAnswer hello(const protocol::Hello& hello) override;
  void notify(const protocol::Notify& event) override;

 private:
  void replace_binary(const std::string& dn, const char* attribute, const std::vector<std::uint8_t>& value) const;

  std::string uri_;
  std::string bind_dn_;
  std::string bind_password_;
  std::string entry_template_;
  std::string ca_entry_;
};

// A DN attribute value escaped as RFC 4514 asks (",+\"\\<>;=", a leading
// '#' or space, a trailing space). libldap escapes values only while
// rebuilding a whole parsed DN, not for a template.
std::string escape_dn_value(const std::string& value);

}  // namespace custos::exit

// The shared object's one exported symbol: a new LdapExit, owned by the
// caller. Host and object come from one build, so the C++ interface is safe
// to pass.
extern "C" __attribute__((visibility("default"))) custos::exit::ExitModule* custos_exit_ldap_create();
