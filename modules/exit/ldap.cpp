#include "modules/exit/ldap.h"

#include <ldap.h>

#include <algorithm>
#include <memory>

#include "common/error.h"

namespace custos::exit {
namespace {

const std::vector<std::string> kKeys = {"uri", "bind_dn", "bind_password", "entry", "ca_entry"};

struct LdapDeleter {
  void operator()(LDAP* connection) const { ldap_unbind_ext_s(connection, nullptr, nullptr); }
};
struct DnDeleter {
  void operator()(LDAPDN dn) const { ldap_dnfree(dn); }
};

// The first common name in an RFC 4514 subject, parsed by libldap.
std::string common_name(const std::string& subject) {
  LDAPDN parsed = nullptr;
  if (ldap_str2dn(subject.c_str(), &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
    throw Error("the subject '" + subject + "' is not an RFC 4514 DN");
  }
  std::unique_ptr<std::remove_pointer_t<LDAPDN>, DnDeleter> dn(parsed);
  for (int rdn = 0; parsed != nullptr && parsed[rdn] != nullptr; ++rdn) {
    for (int ava = 0; parsed[rdn][ava] != nullptr; ++ava) {
      std::string type(parsed[rdn][ava]->la_attr.bv_val, parsed[rdn][ava]->la_attr.bv_len);
      std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
      if (type == "cn" || type == "2.5.4.3") {
        return std::string(parsed[rdn][ava]->la_value.bv_val, parsed[rdn][ava]->la_value.bv_len);
      }
    }
  }
  throw Error("the subject '" + subject + "' has no common name for the entry template");
}

std::string fill(std::string text, const std::string& placeholder, const std::string& value) {
  for (std::size_t at; (at = text.find(placeholder)) != std::string::npos;) text.replace(at, placeholder.size(), value);
  return text;
}

}  // namespace

std::string escape_dn_value(const std::string& value) {
  std::string escaped;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    bool special = std::string(",+\"\\<>;=").find(c) != std::string::npos || (i == 0 && (c == '#' || c == ' ')) ||
                   (i + 1 == value.size() && c == ' ');
    if (special) escaped += '\\';
    escaped += c;
  }
  return escaped;
}

protocol::HelloAnswer LdapExit::hello(const protocol::Hello& hello) {
  const nlohmann::json& config = hello.config;
  for (const auto& [key, value] : config.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      throw protocol::ProtocolError("builtin:ldap: unknown configuration key '" + key + "'");
    }
    if (!value.is_string()) throw protocol::ProtocolError("builtin:ldap: '" + key + "' must be a string");
  }
  uri_ = config.value("uri", "");
  if (uri_.rfind("ldap://", 0) != 0 && uri_.rfind("ldapi://", 0) != 0) {
    throw protocol::ProtocolError("builtin:ldap: 'uri' must be an ldap:// URI");
  }
  bind_dn_ = config.value("bind_dn", "");
  bind_password_ = config.value("bind_password", "");
  entry_template_ = config.value("entry", "");
  ca_entry_ = config.value("ca_entry", "");
  if (entry_template_.empty() && ca_entry_.empty()) {
    throw protocol::ProtocolError("builtin:ldap needs 'entry' (certificates), 'ca_entry' (CRLs), or both");
  }
  std::vector<std::string> events;
  if (!entry_template_.empty()) events.emplace_back("certificate_issued");
  if (!ca_entry_.empty()) events.emplace_back("crl_issued");
  return {"ldap", events};
}

void LdapExit::replace_binary(const std::string& dn, const char* attribute, const std::vector<std::uint8_t>& value) const {
  LDAP* raw = nullptr;
  if (ldap_initialize(&raw, uri_.c_str()) != LDAP_SUCCESS) throw Error("ldap: cannot use the URI " + uri_);
  std::unique_ptr<LDAP, LdapDeleter> connection(raw);
  int version = LDAP_VERSION3;
  timeval timeout{10, 0};
  ldap_set_option(raw, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(raw, LDAP_OPT_NETWORK_TIMEOUT, &timeout);
  ldap_set_option(raw, LDAP_OPT_TIMEOUT, &timeout);

  berval password{bind_password_.size(), const_cast<char*>(bind_password_.data())};
  int rc = ldap_sasl_bind_s(raw, bind_dn_.empty() ? nullptr : bind_dn_.c_str(), LDAP_SASL_SIMPLE, &password, nullptr,
                            nullptr, nullptr);
  if (rc != LDAP_SUCCESS) throw Error("ldap: binding to " + uri_ + " as " + bind_dn_ + ": " + ldap_err2string(rc));

  berval bytes{value.size(), reinterpret_cast<char*>(const_cast<std::uint8_t*>(value.data()))};
  berval* values[] = {&bytes, nullptr};
  LDAPMod modification{};
  modification.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
  modification.mod_type = const_cast<char*>(attribute);
  modification.mod_vals.modv_bvals = values;
  LDAPMod* modifications[] = {&modification, nullptr};
  rc = ldap_modify_ext_s(raw, dn.c_str(), modifications, nullptr, nullptr);
  if (rc != LDAP_SUCCESS) throw Error("ldap: replacing " + std::string(attribute) + " of " + dn + ": " + ldap_err2string(rc));
}

void LdapExit::notify(const protocol::Notify& event) {
  if (event.event == "certificate_issued" && event.certificate && event.request && !entry_template_.empty()) {
    std::string dn = fill(entry_template_, "{cn}", escape_dn_value(common_name(event.request->subject)));
    dn = fill(dn, "{subject}", event.request->subject);
    replace_binary(dn, "userCertificate;binary", event.certificate->der);
  } else if (event.event == "crl_issued" && event.crl && !ca_entry_.empty()) {
    replace_binary(ca_entry_, "certificateRevocationList;binary", event.crl->der);
  }
}

}  // namespace custos::exit

custos::exit::ExitModule* custos_exit_ldap_create() { return new custos::exit::LdapExit(); }
