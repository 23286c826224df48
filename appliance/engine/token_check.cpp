#include "appliance/engine/token_check.h"

#include <sodium.h>

#include <sstream>

#include "appliance/engine/database_key.h"
#include "appliance/x509/signed_message.h"
#include "common/encoding.h"
#include "hsm/mechanisms.h"
#include "hsm/quirks.h"

namespace custos::engine {
namespace {

constexpr KeyType kKeyTypes[] = {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048,
                                 KeyType::kRsa3072, KeyType::kRsa4096, KeyType::kEd25519};

// Removes a scratch object however the trial ends.
class Scratch {
 public:
  explicit Scratch(hsm::Token& token) : token_(token) {}
  ~Scratch() {
    for (const hsm::KeyRef& key : keys_) {
      try {
        token_.destroy_objects(key);
      } catch (const Error&) {
        // The trial's own result is what the user needs; a leftover is
        // named by its label "custos-check-…".
      }
    }
  }
  std::vector<hsm::KeyRef>& keys() { return keys_; }

 private:
  hsm::Token& token_;
  std::vector<hsm::KeyRef> keys_;
};

std::string scratch_label(hsm::Token& token, std::string_view what) {
  return "custos-check-" + std::string(what) + "-" + to_hex(token.random_bytes(4));
}

TokenTrial try_key_type(hsm::Token& token, KeyType type) {
  TokenTrial trial{std::string(key_type_name(type)), false, ""};
  try {
    hsm::require_key_generation(type, token.mechanisms());
    SignatureScheme scheme = hsm::choose_signature_scheme(type, token.mechanisms());
    Scratch scratch(token);
    hsm::KeyRef key = token.generate_key_pair(type, hsm::KeyPurpose::kSigning, scratch_label(token, trial.name));
    scratch.keys().push_back(key);
    const std::string text = "custos token check";
    std::vector<std::uint8_t> message(text.begin(), text.end());
    std::vector<std::uint8_t> signature = token.sign(key, scheme, x509::message_to_be_signed(message));
    std::vector<std::uint8_t> spki = token.public_key_info(key);
    const unsigned char* cursor = spki.data();
    ossl::Ptr<EVP_PKEY> public_key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(spki.size())));
    if (!public_key || !x509::message_signature_holds(public_key.get(), scheme, message, signature)) {
      trial.detail = "the token signed with " + std::string(signature_scheme_name(scheme)) +
                     ", but OpenSSL does not verify the signature under its public key";
      return trial;
    }
    trial.works = true;
    trial.detail = "generated, signed with " + std::string(signature_scheme_name(scheme)) + ", verified";
  } catch (const Error& error) {
    trial.detail = error.what();
  }
  return trial;
}

TokenTrial try_database_key(hsm::Token& token, DatabaseKeyMethod method) {
  TokenTrial trial{std::string(database_key_method_name(method)), false, ""};
  try {
    Scratch scratch(token);
    std::vector<std::uint8_t> id = token.random_bytes(16);
    ProvisionedKey provisioned =
        provision_database_key(token, method, to_hex(id), scratch_label(token, trial.name), scratch.keys());
    SecureBuffer again = derive_database_key(token, provisioned.section);
    if (again.size() != provisioned.key.size() ||
        sodium_memcmp(again.data(), provisioned.key.data(), again.size()) != 0) {
      trial.detail = "the key derived again differs from the first";
      return trial;
    }
    trial.works = true;
    trial.detail = "provisioned, derived twice, the same key";
  } catch (const Error& error) {
    trial.detail = error.what();
  }
  return trial;
}

}  // namespace

TokenCheck check_token(const TokenOptions& options) {
  std::unique_ptr<hsm::Token> token = open_token(options);
  const hsm::TokenDescription& description = token->description();
  TokenCheck check;
  check.module = token->module().path().string();
  check.library = description.library;
  check.label = description.label;
  check.manufacturer = description.manufacturer;
  check.model = description.model;
  check.serial = description.serial;
  const hsm::QuirkRow* row = hsm::quirk_row_for(description);
  check.quirks = row != nullptr ? std::string(row->name) + ": " + std::string(row->why)
                                : "none: the standard's defaults apply";
  for (const auto& [mechanism, info] : token->mechanisms()) check.mechanisms.push_back(hsm::mechanism_name(mechanism));
  for (KeyType type : kKeyTypes) check.key_types.push_back(try_key_type(*token, type));
  for (DatabaseKeyMethod method : {DatabaseKeyMethod::kHmacSha256, DatabaseKeyMethod::kRsaOaep}) {
    check.database_key_methods.push_back(try_database_key(*token, method));
  }
  try {
    check.chosen_database_key_method = database_key_method_name(choose_database_key_method(token->mechanisms()));
  } catch (const Error&) {
    // Neither method is offered: the trials above say why.
  }
  return check;
}

nlohmann::json TokenCheck::to_json() const {
  auto trials = [](const std::vector<TokenTrial>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const TokenTrial& trial : list) out.push_back({{"name", trial.name}, {"works", trial.works}, {"detail", trial.detail}});
    return out;
  };
  return {{"module", module},
          {"library", library},
          {"token", {{"label", label}, {"manufacturer", manufacturer}, {"model", model}, {"serial", serial}}},
          {"quirks", quirks},
          {"mechanisms", mechanisms},
          {"key_types", trials(key_types)},
          {"database_key_methods", trials(database_key_methods)},
          {"init_chooses_database_key_method", chosen_database_key_method}};
}

std::string TokenCheck::to_text() const {
  std::ostringstream out;
  out << "module      " << module << " (" << library << ")\n"
      << "token       '" << label << "', " << manufacturer << " " << model << ", serial " << serial << "\n"
      << "quirks      " << quirks << "\n"
      << "mechanisms  " << mechanisms.size() << " offered; those Custos uses:";
  // The others are named by number (CKM_0x…): --json lists them all.
  for (const std::string& mechanism : mechanisms) {
    if (mechanism.rfind("CKM_0x", 0) != 0) out << " " << mechanism;
  }
  out << "\nkey types\n";
  for (const TokenTrial& trial : key_types) {
    out << "  " << trial.name << std::string(10 - std::min<std::size_t>(trial.name.size(), 9), ' ')
        << (trial.works ? "yes  " : "no   ") << trial.detail << "\n";
  }
  out << "database key\n";
  for (const TokenTrial& trial : database_key_methods) {
    out << "  " << trial.name << std::string(12 - std::min<std::size_t>(trial.name.size(), 11), ' ')
        << (trial.works ? "yes  " : "no   ") << trial.detail << "\n";
  }
  out << "init would key the database by "
      << (chosen_database_key_method.empty() ? "nothing: this token cannot hold a CA's database key"
                                             : chosen_database_key_method)
      << "\n";
  return out.str();
}

}  // namespace custos::engine
