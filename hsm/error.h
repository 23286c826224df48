// PKCS#11 errors as messages that name the call and the CKR_ code in words:
//
//   check(functions->C_Login(session, CKU_USER, pin, len), "C_Login");
//   // throws Pkcs11Error("C_Login: CKR_PIN_INCORRECT")
#pragma once

#include <string>

#include "common/error.h"
#include "hsm/pkcs11.h"

namespace custos::hsm {

// "CKR_PIN_INCORRECT", or "CKR_0x…" for a code the standard does not name.
std::string ckr_name(CK_RV rv);

// "PREFIX_0x0000ABCD": the name of a code no table of ours names.
std::string unnamed_code(const char* prefix, unsigned long value);

class Pkcs11Error : public Error {
 public:
  CUSTOS_ERROR_TYPE(Pkcs11Error)
  Pkcs11Error(const std::string& call, CK_RV rv) : Error(call + ": " + ckr_name(rv)), rv_(rv) {}
  CK_RV rv() const { return rv_; }

 private:
  CK_RV rv_;
};

inline void check(CK_RV rv, const char* call) {
  if (rv != CKR_OK) throw Pkcs11Error(call, rv);
}

// True for the codes that mean the session (or the login behind it) is gone
// and a new session might succeed: a token reset, a removed device.
bool is_session_lost(CK_RV rv);

}  // namespace custos::hsm
