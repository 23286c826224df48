// Distinguished names from the command line, and back to text.
//
//   auto name = parse_name("CN=Custos Root,O=Example");  // RFC 4514
//   auto same = parse_name("/O=Example/CN=Custos Root"); // OpenSSL's form
//   format_name(name.get()) == "CN=Custos Root,O=Example"
#pragma once

#include <string>
#include <string_view>

#include "common/openssl.h"

namespace custos::x509 {

// RFC 4514 text (most specific RDN first, backslash escapes) or OpenSSL's
// slash form (least specific first). Throws custos::Error naming the
// attribute that is unknown or malformed. Multi-valued RDNs are refused.
ossl::Ptr<X509_NAME> parse_name(std::string_view text);

// RFC 4514 text of a name.
std::string format_name(const X509_NAME* name);

// Removes every attribute but commonName and countryName; true when it
// removed one.
bool keep_only_common_name_and_country(X509_NAME* name);

// Gives `name` the common name `value` (UTF-8), in the place of its CN if it
// has one, else as its last RDN. Throws custos::Error if OpenSSL refuses.
void set_common_name(X509_NAME* name, const std::string& value);

}  // namespace custos::x509
