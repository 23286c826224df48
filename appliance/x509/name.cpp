#include "appliance/x509/name.h"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

#include "common/error.h"

namespace custos::x509 {
namespace {

using Attribute = std::pair<std::string, std::string>;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Splits on unescaped `separator`, resolving RFC 4514 escapes ("\," and
// "\2C") in values. OpenSSL has no parser for RFC 4514 strings, hence this.
std::vector<Attribute> split_attributes(std::string_view text, char separator) {
  std::vector<Attribute> attributes;
  std::string type;
  std::string value;
  bool in_value = false;
  auto finish = [&] {
    auto trim = [](std::string& s) {
      while (!s.empty() && s.back() == ' ') s.pop_back();
      std::size_t start = s.find_first_not_of(' ');
      s = start == std::string::npos ? "" : s.substr(start);
    };
    trim(type);
    trim(value);
    if (type.empty() && value.empty() && !in_value) return;
    if (!in_value || type.empty()) throw Error("'" + type + value + "' in the name is not TYPE=VALUE");
    if (value.empty()) throw Error("the name's " + type + " is empty");
    attributes.emplace_back(type, value);
    type.clear();
    value.clear();
    in_value = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && separator == ',') {
      if (i + 1 >= text.size()) throw Error("the name ends in a lone backslash");
      if (i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
        (in_value ? value : type) += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
        i += 2;
      } else {
        (in_value ? value : type) += text[++i];
      }
    } else if (c == separator) {
      finish();
    } else if (c == '+' && separator == ',') {
      throw Error("multi-valued RDNs ('+') are not supported in names; escape a literal plus as \\+");
    } else if (c == '=' && !in_value) {
      in_value = true;
    } else {
      (in_value ? value : type) += c;
    }
  }
  finish();
  return attributes;
}

}  // namespace

ossl::Ptr<X509_NAME> parse_name(std::string_view text) {
  bool slash_form = !text.empty() && text.front() == '/';
  std::vector<Attribute> attributes = split_attributes(slash_form ? text.substr(1) : text, slash_form ? '/' : ',');
  if (attributes.empty()) throw Error("the name is empty");
  // RFC 4514 writes the most specific RDN first; X.509 stores it last.
  if (!slash_form) std::reverse(attributes.begin(), attributes.end());

  ossl::Ptr<X509_NAME> name(X509_NAME_new());
  for (const auto& [type, value] : attributes) {
    if (OBJ_txt2nid(type.c_str()) == NID_undef) throw Error("unknown attribute type '" + type + "' in the name");
    if (X509_NAME_add_entry_by_txt(name.get(), type.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) != 1) {
      throw Error("the name's " + type + " '" + value + "' is not valid: " + ossl::last_error());
    }
  }
  return name;
}

std::string format_name(const X509_NAME* name) {
  ossl::Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

void set_common_name(X509_NAME* name, const std::string& value) {
  int place = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (place >= 0) X509_NAME_ENTRY_free(X509_NAME_delete_entry(name, place));
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()),
                                 place, 0) != 1) {
    throw Error("setting a common name: " + ossl::last_error());
  }
}

bool keep_only_common_name_and_country(X509_NAME* name) {
  bool removed = false;
  for (int index = X509_NAME_entry_count(name) - 1; index >= 0; --index) {
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, index)));
    if (nid != NID_commonName && nid != NID_countryName) {
      X509_NAME_ENTRY_free(X509_NAME_delete_entry(name, index));
      removed = true;
    }
  }
  return removed;
}

}  // namespace custos::x509
