// The PKCS#11 headers, from p11-kit, with the standard (OASIS) names for
// struct fields: pValue, ulValueLen, pParameter. Everything in hsm/
// includes this one.
#pragma once

#include <p11-kit/pkcs11.h>
