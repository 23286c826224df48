// A logged-in token: a pool of PKCS#11 sessions and the operations Custos
// needs — key generation on the token, public key export, signing, random,
// HMAC and RSA-OAEP decryption. Thread-safe: each operation borrows one
// session from the pool, so as many threads sign at once as there are
// sessions.
//
//   auto token = std::make_unique<Token>(Module::load(path), "custos", read_pin(source));
//   KeyRef key = token->generate_key_pair(KeyType::kEcP256, KeyPurpose::kSigning, "custos-ca-1f2e");
//   std::vector<std::uint8_t> signature = token->sign(key, SignatureScheme::kEcdsaSha256, tbs);
//
// A session the token invalidated (a reset, a removed device, a lost login)
// is re-opened and logged in again once, and the operation retried; a token
// that stays gone is an error naming the call and its CKR_ code.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/secure_buffer.h"
#include "hsm/keys.h"
#include "hsm/mechanisms.h"
#include "hsm/module.h"

namespace custos::hsm {

class Token {
 public:
  static constexpr std::size_t kDefaultSessions = 4;

  // Opens `sessions` read-write sessions on the token labelled `label` (and
  // with serial number `serial`, when given), all from this thread (some
  // modules are not safe opening sessions concurrently), and logs in with
  // `pin`. The PIN is kept in locked memory to log in again after a token
  // reset, and wiped with the Token.
  Token(std::shared_ptr<Module> module, const std::string& label, SecureBuffer pin,
        std::size_t sessions = kDefaultSessions, const std::string& serial = "");
  ~Token();
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  const TokenDescription& description() const { return description_; }
  const MechanismSet& mechanisms() const { return mechanisms_; }
  const Module& module() const { return *module_; }
  std::size_t session_count() const { return sessions_.size(); }

  // True when any object on the token carries `label`.
  bool has_objects_labelled(const std::string& label);

  // Generates a key pair on the token: CKA_TOKEN, CKA_PRIVATE and
  // CKA_SENSITIVE true, CKA_EXTRACTABLE false. The id is 16 random bytes
  // from the token. Refuses a label that is already in use.
  KeyRef generate_key_pair(KeyType type, KeyPurpose purpose, const std::string& label);

  // Generates a 256-bit generic secret key for HMAC-SHA256, with the same
  // protections. Refuses a label that is already in use.
  KeyRef generate_secret_key(const std::string& label);

  // Destroys every object that matches `key` (label and id); used to undo a
  // half-finished initialisation.
  void destroy_objects(const KeyRef& key);

  // The public key of a key pair as DER SubjectPublicKeyInfo.
  std::vector<std::uint8_t> public_key_info(const KeyRef& key);

  // Signs `data` with the private key of `key`. ECDSA signatures come back
  // as DER ECDSA-Sig-Value; RSA and Ed25519 as the raw signature.
  std::vector<std::uint8_t> sign(const KeyRef& key, SignatureScheme scheme, std::span<const std::uint8_t> data);

  SecureBuffer hmac_sha256(const KeyRef& key, std::span<const std::uint8_t> data);
  // RSA-OAEP decryption on the token, with MGF1 over the same digest.
  // Tokens differ in the digests they accept (SoftHSMv2 takes SHA-1 only),
  // so the caller says which one the ciphertext was made with.
  SecureBuffer rsa_oaep_decrypt(const KeyRef& key, OaepDigest digest, std::span<const std::uint8_t> ciphertext);

  std::vector<std::uint8_t> random_bytes(std::size_t count);
  void generate_random(std::span<std::uint8_t> out);

  // An attribute's value, or nullopt when the token will not reveal it
  // (CKR_ATTRIBUTE_SENSITIVE and CKR_ATTRIBUTE_TYPE_INVALID alike, as
  // tokens differ in which they answer for a private value).
  std::optional<std::vector<std::uint8_t>> read_attribute(const KeyRef& key, CK_OBJECT_CLASS object_class,
                                                          CK_ATTRIBUTE_TYPE attribute);

  // The handles of the pooled sessions, so a test can close them behind
  // the Token's back and watch it recover.
  std::vector<CK_SESSION_HANDLE> session_handles_for_testing();

 private:
  struct PooledSession {
    CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
    std::map<std::string, CK_OBJECT_HANDLE> objects;  // found objects, per session
  };
  class Lease;

  template <typename Operation>
  auto with_session(Operation&& operation);

  CK_SESSION_HANDLE open_session();
  void log_in(CK_SESSION_HANDLE session);
  bool logged_in(CK_SESSION_HANDLE session);
  void reopen(PooledSession& session);
  CK_OBJECT_HANDLE find_object(PooledSession& session, const KeyRef& key, CK_OBJECT_CLASS object_class);
  std::vector<CK_OBJECT_HANDLE> find_all(CK_SESSION_HANDLE session, const std::string& label,
                                         const std::vector<std::uint8_t>* id);
  std::vector<std::uint8_t> attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                      CK_ATTRIBUTE_TYPE type);
  void refuse_used_label(CK_SESSION_HANDLE session, const std::string& label);

  std::shared_ptr<Module> module_;
  CK_FUNCTION_LIST* functions_;
  std::string label_;
  std::string serial_;  // required serial number; empty: any with the label
  TokenDescription description_;
  MechanismSet mechanisms_;
  SecureBuffer pin_;

  std::mutex mutex_;  // guards free_ and description_.slot during a re-open
  std::mutex session_opening_;  // for a token whose quirks open sessions one at a time
  std::condition_variable available_;
  std::vector<PooledSession> sessions_;
  std::vector<std::size_t> free_;
};

}  // namespace custos::hsm
