#include "hsm/token.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <deque>
#include <thread>

#include "common/encoding.h"
#include "common/error.h"
#include "common/openssl.h"
#include "hsm/error.h"
#include "hsm/quirks.h"

namespace custos::hsm {
namespace {

constexpr std::size_t kKeyIdBytes = 16;
constexpr std::size_t kSecretKeyBytes = 32;
// Large enough for an RSA-4096 signature or any ECDSA/EdDSA one, so the
// usual C_Sign is one call; a token that needs more says so with
// CKR_BUFFER_TOO_SMALL and the exact length, and we ask again.
constexpr std::size_t kSignatureBufferBytes = 512;

CK_BBOOL kTrue = CK_TRUE;
CK_BBOOL kFalse = CK_FALSE;

// Builds a CK_ATTRIBUTE array whose values outlive the call.
class AttributeTemplate {
 public:
  AttributeTemplate& flag(CK_ATTRIBUTE_TYPE type, bool value) {
    attributes_.push_back({type, value ? &kTrue : &kFalse, sizeof(CK_BBOOL)});
    return *this;
  }
  AttributeTemplate& number(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
    numbers_.push_back(value);
    attributes_.push_back({type, &numbers_.back(), sizeof(CK_ULONG)});
    return *this;
  }
  AttributeTemplate& bytes(CK_ATTRIBUTE_TYPE type, std::vector<std::uint8_t> value) {
    blobs_.push_back(std::move(value));
    attributes_.push_back({type, blobs_.back().data(), blobs_.back().size()});
    return *this;
  }
  AttributeTemplate& text(CK_ATTRIBUTE_TYPE type, const std::string& value) {
    return bytes(type, std::vector<std::uint8_t>(value.begin(), value.end()));
  }
  CK_ATTRIBUTE* data() { return attributes_.data(); }
  CK_ULONG size() const { return attributes_.size(); }
  // Leaves out each of `types` stated false (hsm/quirks.h usages_it_decides).
  void omit_false(const std::vector<CK_ATTRIBUTE_TYPE>& types) {
    std::erase_if(attributes_, [&](const CK_ATTRIBUTE& attribute) {
      return attribute.pValue == &kFalse && std::find(types.begin(), types.end(), attribute.type) != types.end();
    });
  }

 private:
  std::vector<CK_ATTRIBUTE> attributes_;
  std::deque<CK_ULONG> numbers_;                    // deque: stable addresses
  std::deque<std::vector<std::uint8_t>> blobs_;
};

std::vector<std::uint8_t> der_of_curve(int nid) {
  return ossl::to_der(OBJ_nid2obj(nid), i2d_ASN1_OBJECT, "a curve identifier");
}

// CKA_EC_POINT is a DER OCTET STRING by the standard, but some tokens return
// the bare point; accept both.
std::vector<std::uint8_t> unwrap_ec_point(const std::vector<std::uint8_t>& value) {
  const unsigned char* cursor = value.data();
  ossl::Ptr<ASN1_OCTET_STRING> wrapped(d2i_ASN1_OCTET_STRING(nullptr, &cursor, static_cast<long>(value.size())));
  if (wrapped && cursor == value.data() + value.size()) {
    const unsigned char* point = ASN1_STRING_get0_data(wrapped.get());
    return {point, point + ASN1_STRING_length(wrapped.get())};
  }
  ERR_clear_error();
  return value;
}

std::vector<std::uint8_t> spki_of(EVP_PKEY* key) {
  if (key == nullptr) throw Error("building the public key from the token's attributes: " + ossl::last_error());
  return ossl::to_der(key, i2d_PUBKEY, "the public key");
}

ossl::Ptr<EVP_PKEY> key_from_params(const char* algorithm, OSSL_PARAM_BLD* builder) {
  ossl::Ptr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(builder));
  ossl::Ptr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    throw Error(std::string("building the ") + algorithm + " public key from the token's attributes: " +
                ossl::last_error());
  }
  return ossl::Ptr<EVP_PKEY>(key);
}

std::vector<std::uint8_t> ecdsa_raw_to_der(const std::vector<std::uint8_t>& raw) {
  if (raw.empty() || raw.size() % 2 != 0) throw Error("the token returned a malformed ECDSA signature");
  std::size_t half = raw.size() / 2;
  ossl::Ptr<ECDSA_SIG> signature(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  if (!signature || r == nullptr || s == nullptr || ECDSA_SIG_set0(signature.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    throw Error("converting the ECDSA signature: " + ossl::last_error());
  }
  return ossl::to_der(signature.get(), i2d_ECDSA_SIG, "the ECDSA signature");
}

// The DigestInfo that CKM_RSA_PKCS signs (RFC 8017, EMSA-PKCS1-v1_5),
// encoded through OpenSSL's X509_SIG rather than by hand.
std::vector<std::uint8_t> digest_info(std::string_view digest_name, const std::vector<std::uint8_t>& digest) {
  ossl::Ptr<X509_SIG> info(X509_SIG_new());
  X509_ALGOR* algorithm = nullptr;
  ASN1_OCTET_STRING* value = nullptr;
  X509_SIG_getm(info.get(), &algorithm, &value);
  const EVP_MD* md = EVP_get_digestbyname(std::string(digest_name).c_str());
  if (md == nullptr || X509_ALGOR_set0(algorithm, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, nullptr) != 1 ||
      ASN1_OCTET_STRING_set(value, digest.data(), static_cast<int>(digest.size())) != 1) {
    throw Error("encoding the DigestInfo: " + ossl::last_error());
  }
  return ossl::to_der(info.get(), i2d_X509_SIG, "the DigestInfo");
}

struct PssParameters {
  CK_MECHANISM_TYPE hash;
  CK_RSA_PKCS_MGF_TYPE mgf;
  CK_ULONG salt_length;
};

std::optional<PssParameters> pss_parameters(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kRsaPssSha256:
      return PssParameters{CKM_SHA256, CKG_MGF1_SHA256, 32};
    case SignatureScheme::kRsaPssSha384:
      return PssParameters{CKM_SHA384, CKG_MGF1_SHA384, 48};
    case SignatureScheme::kRsaPssSha512:
      return PssParameters{CKM_SHA512, CKG_MGF1_SHA512, 64};
    default:
      return std::nullopt;
  }
}

bool is_ecdsa(SignatureScheme scheme) {
  return scheme == SignatureScheme::kEcdsaSha256 || scheme == SignatureScheme::kEcdsaSha384 ||
         scheme == SignatureScheme::kEcdsaSha512;
}

std::string class_name(CK_OBJECT_CLASS object_class) {
  switch (object_class) {
    case CKO_PRIVATE_KEY:
      return "private key";
    case CKO_PUBLIC_KEY:
      return "public key";
    case CKO_SECRET_KEY:
      return "secret key";
    default:
      return "object";
  }
}

}  // namespace

// Borrows one session from the pool for the duration of an operation.
class Token::Lease {
 public:
  explicit Lease(Token& token) : token_(token) {
    std::unique_lock lock(token_.mutex_);
    token_.available_.wait(lock, [this] { return !token_.free_.empty(); });
    index_ = token_.free_.back();
    token_.free_.pop_back();
  }
  ~Lease() {
    {
      std::lock_guard lock(token_.mutex_);
      token_.free_.push_back(index_);
    }
    token_.available_.notify_one();
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  PooledSession& session() { return token_.sessions_[index_]; }

 private:
  Token& token_;
  std::size_t index_ = 0;
};

template <typename Operation>
auto Token::with_session(Operation&& operation) {
  Lease lease(*this);
  try {
    return operation(lease.session());
  } catch (const Pkcs11Error& error) {
    if (!is_session_lost(error.rv())) throw;
    reopen(lease.session());
    return operation(lease.session());
  }
}

Token::Token(std::shared_ptr<Module> module, const std::string& label, SecureBuffer pin, std::size_t sessions,
             const std::string& serial)
    : module_(std::move(module)), functions_(module_->functions()), label_(label), serial_(serial), pin_(std::move(pin)) {
  description_ = module_->find_token(label, serial);

  CK_ULONG count = 0;
  check(functions_->C_GetMechanismList(description_.slot, nullptr, &count), "C_GetMechanismList");
  std::vector<CK_MECHANISM_TYPE> types(count);
  check(functions_->C_GetMechanismList(description_.slot, types.data(), &count), "C_GetMechanismList");
  types.resize(count);
  for (CK_MECHANISM_TYPE type : types) {
    CK_MECHANISM_INFO info{};
    if (functions_->C_GetMechanismInfo(description_.slot, type, &info) == CKR_OK) mechanisms_[type] = info;
  }

  std::size_t wanted = std::max<std::size_t>(1, sessions);
  if (description_.max_sessions != 0) wanted = std::min<std::size_t>(wanted, description_.max_sessions);
  try {
    for (std::size_t i = 0; i < wanted; ++i) {
      sessions_.push_back(PooledSession{open_session(), {}});
      free_.push_back(i);
    }
    log_in(sessions_.front().handle);
  } catch (...) {
    for (PooledSession& session : sessions_) functions_->C_CloseSession(session.handle);
    throw;
  }
}

Token::~Token() {
  // Closing our own sessions (not C_CloseAllSessions, which would end other
  // users' sessions in this process) also ends the login with the last one.
  for (PooledSession& session : sessions_) {
    if (session.handle != CK_INVALID_HANDLE) functions_->C_CloseSession(session.handle);
  }
}

CK_SESSION_HANDLE Token::open_session() {
  CK_SLOT_ID slot;
  {
    std::lock_guard lock(mutex_);
    slot = description_.slot;
  }
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  std::unique_lock one_at_a_time(session_opening_, std::defer_lock);
  if (quirks_for(description()).open_sessions_one_at_a_time) one_at_a_time.lock();
  check(functions_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &handle),
        "C_OpenSession");
  return handle;
}

void Token::log_in(CK_SESSION_HANDLE session) {
  // Only what the token's row in the quirks table names as transient is
  // tried again; a PIN error never is: it counts against the lockout.
  const TokenQuirks& quirks = quirks_for(description());
  CK_RV rv = CKR_OK;
  for (int attempt = 1; attempt <= quirks.login_attempts; ++attempt) {
    rv = functions_->C_Login(session, CKU_USER, pin_.data(), pin_.size());
    if (std::find(quirks.transient_login_errors.begin(), quirks.transient_login_errors.end(), rv) ==
        quirks.transient_login_errors.end()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
  }
  // The login state belongs to the application, not the session: another
  // session of ours may have logged in already. (So within one process the
  // first successful login is what counts; the CLI and custosd open one
  // Token per token.)
  if (rv != CKR_USER_ALREADY_LOGGED_IN) check(rv, "C_Login");
}

bool Token::logged_in(CK_SESSION_HANDLE session) {
  CK_SESSION_INFO info{};
  check(functions_->C_GetSessionInfo(session, &info), "C_GetSessionInfo");
  return info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS;
}

void Token::reopen(PooledSession& session) {
  functions_->C_CloseSession(session.handle);  // may already be gone; nothing to learn from the result
  session.handle = CK_INVALID_HANDLE;
  session.objects.clear();
  try {
    // A token that was removed and re-inserted may sit in another slot.
    TokenDescription found = module_->find_token(label_, serial_);
    {
      std::lock_guard lock(mutex_);
      description_.slot = found.slot;
    }
    session.handle = open_session();
    log_in(session.handle);
  } catch (const Error&) {
    rethrow_with_context("the token '" + label_ + "' did not come back after its session was lost");
  }
}

std::vector<CK_OBJECT_HANDLE> Token::find_all(CK_SESSION_HANDLE session, const std::string& label,
                                              const std::vector<std::uint8_t>* id) {
  AttributeTemplate search;
  search.text(CKA_LABEL, label);
  if (id != nullptr) search.bytes(CKA_ID, *id);
  check(functions_->C_FindObjectsInit(session, search.data(), search.size()), "C_FindObjectsInit");
  std::vector<CK_OBJECT_HANDLE> found;
  CK_RV rv = CKR_OK;
  for (;;) {
    CK_OBJECT_HANDLE batch[16];
    CK_ULONG count = 0;
    rv = functions_->C_FindObjects(session, batch, 16, &count);
    if (rv != CKR_OK || count == 0) break;
    found.insert(found.end(), batch, batch + count);
  }
  CK_RV final_rv = functions_->C_FindObjectsFinal(session);
  check(rv, "C_FindObjects");
  check(final_rv, "C_FindObjectsFinal");
  return found;
}

CK_OBJECT_HANDLE Token::find_object(PooledSession& session, const KeyRef& key, CK_OBJECT_CLASS object_class) {
  std::string cache_key = std::to_string(object_class) + ":" + key.label + ":" + to_hex(key.id);
  if (auto cached = session.objects.find(cache_key); cached != session.objects.end()) return cached->second;

  AttributeTemplate search;
  search.number(CKA_CLASS, object_class).text(CKA_LABEL, key.label).bytes(CKA_ID, key.id);
  check(functions_->C_FindObjectsInit(session.handle, search.data(), search.size()), "C_FindObjectsInit");
  CK_OBJECT_HANDLE found[2];
  CK_ULONG count = 0;
  CK_RV rv = functions_->C_FindObjects(session.handle, found, 2, &count);
  CK_RV final_rv = functions_->C_FindObjectsFinal(session.handle);
  check(rv, "C_FindObjects");
  check(final_rv, "C_FindObjectsFinal");
  if (count == 0 && object_class != CKO_PUBLIC_KEY && !logged_in(session.handle)) {
    // Private objects are invisible without a login; a token reset that
    // dropped ours shows up here rather than as an error code.
    throw Pkcs11Error("C_FindObjects", CKR_USER_NOT_LOGGED_IN);
  }
  if (count == 0) {
    throw Error("the token '" + label_ + "' holds no " + class_name(object_class) + " labelled '" + key.label +
                "' with id " + to_hex(key.id));
  }
  if (count > 1) {
    throw Error("the token '" + label_ + "' holds more than one " + class_name(object_class) + " labelled '" +
                key.label + "' with id " + to_hex(key.id));
  }
  session.objects.emplace(cache_key, found[0]);
  return found[0];
}

std::vector<std::uint8_t> Token::attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                           CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE query{type, nullptr, 0};
  check(functions_->C_GetAttributeValue(session, object, &query, 1), "C_GetAttributeValue");
  if (query.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    throw Pkcs11Error("C_GetAttributeValue", CKR_ATTRIBUTE_TYPE_INVALID);
  }
  std::vector<std::uint8_t> value(query.ulValueLen);
  query.pValue = value.data();
  check(functions_->C_GetAttributeValue(session, object, &query, 1), "C_GetAttributeValue");
  value.resize(query.ulValueLen);
  return value;
}

void Token::refuse_used_label(CK_SESSION_HANDLE session, const std::string& label) {
  if (!find_all(session, label, nullptr).empty()) {
    throw Error("the token '" + label_ + "' already holds a key labelled '" + label +
                "'; Custos never overwrites a key");
  }
}

bool Token::has_objects_labelled(const std::string& label) {
  return with_session([&](PooledSession& session) { return !find_all(session.handle, label, nullptr).empty(); });
}

KeyRef Token::generate_key_pair(KeyType type, KeyPurpose purpose, const std::string& label) {
  require_key_generation(type, mechanisms_);
  KeyRef key{label, random_bytes(kKeyIdBytes)};
  bool signing = purpose == KeyPurpose::kSigning;

  // Least privilege, stated in full rather than left to the token's
  // defaults: each key may do its one job (sign, or decrypt the database
  // key) and nothing else, and cannot be copied or changed.
  auto make_templates = [&](const std::vector<std::uint8_t>& curve_parameters) {
    AttributeTemplate public_template;
    public_template.flag(CKA_TOKEN, true).flag(CKA_PRIVATE, false).text(CKA_LABEL, label).bytes(CKA_ID, key.id);
    public_template.flag(CKA_VERIFY, signing)
        .flag(CKA_ENCRYPT, !signing)
        .flag(CKA_VERIFY_RECOVER, false)
        .flag(CKA_WRAP, false)
        .flag(CKA_DERIVE, false)
        .flag(CKA_MODIFIABLE, false);
    AttributeTemplate private_template;
    private_template.flag(CKA_TOKEN, true)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_EXTRACTABLE, false)
        .text(CKA_LABEL, label)
        .bytes(CKA_ID, key.id);
    private_template.flag(CKA_SIGN, signing)
        .flag(CKA_DECRYPT, !signing)
        .flag(CKA_SIGN_RECOVER, false)
        .flag(CKA_UNWRAP, false)
        .flag(CKA_DERIVE, false)
        .flag(CKA_MODIFIABLE, false)
        .flag(CKA_COPYABLE, false);
    const std::vector<CK_ATTRIBUTE_TYPE>& decided = quirks_for(description()).usages_it_decides;
    public_template.omit_false(decided);
    private_template.omit_false(decided);
    if (is_rsa(type)) {
      public_template.number(CKA_MODULUS_BITS, rsa_bits(type)).bytes(CKA_PUBLIC_EXPONENT, {0x01, 0x00, 0x01});
    } else {
      public_template.bytes(CKA_EC_PARAMS, curve_parameters);
    }
    return std::pair(std::move(public_template), std::move(private_template));
  };

  CK_MECHANISM mechanism{is_rsa(type)  ? CKM_RSA_PKCS_KEY_PAIR_GEN
                         : is_ec(type) ? CKM_EC_KEY_PAIR_GEN
                                       : CKM_EC_EDWARDS_KEY_PAIR_GEN,
                         nullptr, 0};
  std::vector<std::vector<std::uint8_t>> curve_choices;
  switch (type) {
    case KeyType::kEcP256:
      curve_choices = {der_of_curve(NID_X9_62_prime256v1)};
      break;
    case KeyType::kEcP384:
      curve_choices = {der_of_curve(NID_secp384r1)};
      break;
    case KeyType::kEd25519: {
      // PKCS#11 3.0 names Ed25519 by the OID id-Ed25519 or by the
      // PrintableString "edwards25519"; tokens accept one or the other.
      const std::string name = "edwards25519";
      std::vector<std::uint8_t> printable{0x13, static_cast<std::uint8_t>(name.size())};
      printable.insert(printable.end(), name.begin(), name.end());
      curve_choices = {der_of_curve(NID_ED25519), printable};
      break;
    }
    default:
      curve_choices = {{}};
      break;
  }

  with_session([&](PooledSession& session) {
    refuse_used_label(session.handle, label);
    CK_RV rv = CKR_OK;
    for (const std::vector<std::uint8_t>& curve : curve_choices) {
      auto [public_template, private_template] = make_templates(curve);
      CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE;
      CK_OBJECT_HANDLE private_key = CK_INVALID_HANDLE;
      rv = functions_->C_GenerateKeyPair(session.handle, &mechanism, public_template.data(), public_template.size(),
                                         private_template.data(), private_template.size(), &public_key,
                                         &private_key);
      bool curve_refused = rv == CKR_CURVE_NOT_SUPPORTED || rv == CKR_DOMAIN_PARAMS_INVALID ||
                           rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT;
      if (!curve_refused) break;
    }
    check(rv, "C_GenerateKeyPair");
  });
  return key;
}

KeyRef Token::generate_secret_key(const std::string& label) {
  if (!offers(mechanisms_, CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE) || !offers(mechanisms_, CKM_SHA256_HMAC, CKF_SIGN)) {
    throw Error("the token cannot keep an HMAC key: it does not offer CKM_GENERIC_SECRET_KEY_GEN and CKM_SHA256_HMAC");
  }
  KeyRef key{label, random_bytes(kKeyIdBytes)};
  with_session([&](PooledSession& session) {
    refuse_used_label(session.handle, label);
    AttributeTemplate secret;
    secret.number(CKA_CLASS, CKO_SECRET_KEY)
        .number(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .number(CKA_VALUE_LEN, kSecretKeyBytes)
        .flag(CKA_TOKEN, true)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_EXTRACTABLE, false)
        // HMAC through C_Sign is the one thing the database key does.
        .flag(CKA_SIGN, true)
        .flag(CKA_VERIFY, false)
        .flag(CKA_ENCRYPT, false)
        .flag(CKA_DECRYPT, false)
        .flag(CKA_WRAP, false)
        .flag(CKA_UNWRAP, false)
        .flag(CKA_DERIVE, false)
        .flag(CKA_MODIFIABLE, false)
        .flag(CKA_COPYABLE, false)
        .text(CKA_LABEL, label)
        .bytes(CKA_ID, key.id);
    CK_MECHANISM mechanism{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    check(functions_->C_GenerateKey(session.handle, &mechanism, secret.data(), secret.size(), &handle),
          "C_GenerateKey");
  });
  return key;
}

void Token::destroy_objects(const KeyRef& key) {
  with_session([&](PooledSession& session) {
    for (CK_OBJECT_HANDLE object : find_all(session.handle, key.label, &key.id)) {
      check(functions_->C_DestroyObject(session.handle, object), "C_DestroyObject");
    }
    session.objects.clear();
  });
}

std::vector<std::uint8_t> Token::public_key_info(const KeyRef& key) {
  return with_session([&](PooledSession& session) {
    CK_OBJECT_HANDLE object = find_object(session, key, CKO_PUBLIC_KEY);
    std::vector<std::uint8_t> type_bytes = attribute(session.handle, object, CKA_KEY_TYPE);
    CK_KEY_TYPE key_type = 0;
    if (type_bytes.size() != sizeof key_type) throw Error("the token returned a malformed CKA_KEY_TYPE");
    std::memcpy(&key_type, type_bytes.data(), sizeof key_type);

    if (key_type == CKK_RSA) {
      std::vector<std::uint8_t> modulus = attribute(session.handle, object, CKA_MODULUS);
      std::vector<std::uint8_t> exponent = attribute(session.handle, object, CKA_PUBLIC_EXPONENT);
      ossl::Ptr<BIGNUM> n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
      ossl::Ptr<BIGNUM> e(BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr));
      ossl::Ptr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
      if (!n || !e || !builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
          OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
        throw Error("reading the RSA public key: " + ossl::last_error());
      }
      return spki_of(key_from_params("RSA", builder.get()).get());
    }

    std::vector<std::uint8_t> point = unwrap_ec_point(attribute(session.handle, object, CKA_EC_POINT));
    if (key_type == CKK_EC_EDWARDS) {
      return spki_of(ossl::Ptr<EVP_PKEY>(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, point.data(),
                                                                      point.size()))
                         .get());
    }
    if (key_type != CKK_EC) throw Error("the key labelled '" + key.label + "' is of a type Custos does not use");

    std::vector<std::uint8_t> parameters = attribute(session.handle, object, CKA_EC_PARAMS);
    const unsigned char* cursor = parameters.data();
    ossl::Ptr<ASN1_OBJECT> curve(d2i_ASN1_OBJECT(nullptr, &cursor, static_cast<long>(parameters.size())));
    const char* group = curve ? OBJ_nid2sn(OBJ_obj2nid(curve.get())) : nullptr;
    if (group == nullptr) throw Error("the key labelled '" + key.label + "' is on a curve Custos does not know");
    ossl::Ptr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
    if (!builder ||
        OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
      throw Error("reading the EC public key: " + ossl::last_error());
    }
    return spki_of(key_from_params("EC", builder.get()).get());
  });
}

std::vector<std::uint8_t> Token::sign(const KeyRef& key, SignatureScheme scheme, std::span<const std::uint8_t> data) {
  std::optional<SigningMechanism> chosen = find_signing_mechanism(scheme, mechanisms_);
  if (!chosen) {
    throw Error("the token '" + label_ + "' offers no mechanism for " + std::string(signature_scheme_name(scheme)));
  }
  std::vector<std::uint8_t> prepared;
  std::span<const std::uint8_t> input = data;
  if (chosen->hash_in_software) {
    std::string digest_name(signature_digest_name(scheme));
    prepared = ossl::sha_digest(digest_name.c_str(), data);
    if (chosen->mechanism == CKM_RSA_PKCS) prepared = digest_info(digest_name, prepared);
    input = prepared;
  }

  CK_MECHANISM mechanism{chosen->mechanism, nullptr, 0};
  CK_RSA_PKCS_PSS_PARAMS pss{};
  if (std::optional<PssParameters> parameters = pss_parameters(scheme)) {
    pss.hashAlg = parameters->hash;
    pss.mgf = parameters->mgf;
    pss.sLen = parameters->salt_length;
    mechanism.pParameter = &pss;
    mechanism.ulParameterLen = sizeof pss;
  }

  std::vector<std::uint8_t> signature = with_session([&](PooledSession& session) {
    CK_OBJECT_HANDLE private_key = find_object(session, key, CKO_PRIVATE_KEY);
    check(functions_->C_SignInit(session.handle, &mechanism, private_key), "C_SignInit");
    std::vector<std::uint8_t> output(kSignatureBufferBytes);
    CK_ULONG length = output.size();
    auto* bytes = const_cast<CK_BYTE*>(input.data());  // PKCS#11 takes non-const input it does not modify
    CK_RV rv = functions_->C_Sign(session.handle, bytes, input.size(), output.data(), &length);
    if (rv == CKR_BUFFER_TOO_SMALL) {
      output.resize(length);
      rv = functions_->C_Sign(session.handle, bytes, input.size(), output.data(), &length);
    }
    check(rv, "C_Sign");
    output.resize(length);
    return output;
  });
  return is_ecdsa(scheme) ? ecdsa_raw_to_der(signature) : signature;
}

SecureBuffer Token::hmac_sha256(const KeyRef& key, std::span<const std::uint8_t> data) {
  return with_session([&](PooledSession& session) {
    CK_OBJECT_HANDLE secret = find_object(session, key, CKO_SECRET_KEY);
    CK_MECHANISM mechanism{CKM_SHA256_HMAC, nullptr, 0};
    check(functions_->C_SignInit(session.handle, &mechanism, secret), "C_SignInit");
    SecureBuffer mac(32);
    CK_ULONG length = mac.size();
    check(functions_->C_Sign(session.handle, const_cast<CK_BYTE*>(data.data()), data.size(), mac.data(), &length),
          "C_Sign");
    if (length != 32) throw Error("the token returned an HMAC-SHA256 of " + std::to_string(length) + " bytes");
    return mac;
  });
}

SecureBuffer Token::rsa_oaep_decrypt(const KeyRef& key, OaepDigest digest, std::span<const std::uint8_t> ciphertext) {
  return with_session([&](PooledSession& session) {
    CK_OBJECT_HANDLE private_key = find_object(session, key, CKO_PRIVATE_KEY);
    CK_RSA_PKCS_OAEP_PARAMS oaep{digest == OaepDigest::kSha256 ? CKM_SHA256 : CKM_SHA_1,
                                 digest == OaepDigest::kSha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
                                 CKZ_DATA_SPECIFIED, nullptr, 0};
    CK_MECHANISM mechanism{CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
    check(functions_->C_DecryptInit(session.handle, &mechanism, private_key), "C_DecryptInit");
    SecureBuffer plaintext(ciphertext.size());
    CK_ULONG length = plaintext.size();
    check(functions_->C_Decrypt(session.handle, const_cast<CK_BYTE*>(ciphertext.data()), ciphertext.size(),
                                plaintext.data(), &length),
          "C_Decrypt");
    plaintext.truncate(length);
    return plaintext;
  });
}

void Token::generate_random(std::span<std::uint8_t> out) {
  if ((description_.flags & CKF_RNG) == 0) {
    throw Error("the token '" + label_ + "' has no random number generator (CKF_RNG is not set)");
  }
  with_session([&](PooledSession& session) {
    check(functions_->C_GenerateRandom(session.handle, out.data(), out.size()), "C_GenerateRandom");
  });
}

std::vector<std::uint8_t> Token::random_bytes(std::size_t count) {
  std::vector<std::uint8_t> bytes(count);
  generate_random(bytes);
  return bytes;
}

std::optional<std::vector<std::uint8_t>> Token::read_attribute(const KeyRef& key, CK_OBJECT_CLASS object_class,
                                                               CK_ATTRIBUTE_TYPE type) {
  return with_session([&](PooledSession& session) -> std::optional<std::vector<std::uint8_t>> {
    CK_OBJECT_HANDLE object = find_object(session, key, object_class);
    try {
      return attribute(session.handle, object, type);
    } catch (const Pkcs11Error& error) {
      if (error.rv() == CKR_ATTRIBUTE_SENSITIVE || error.rv() == CKR_ATTRIBUTE_TYPE_INVALID) return std::nullopt;
      throw;
    }
  });
}

std::vector<CK_SESSION_HANDLE> Token::session_handles_for_testing() {
  std::lock_guard lock(mutex_);
  std::vector<CK_SESSION_HANDLE> handles;
  for (const PooledSession& session : sessions_) handles.push_back(session.handle);
  return handles;
}

}  // namespace custos::hsm
