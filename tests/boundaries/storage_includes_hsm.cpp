// Must not compile: the store knows nothing of PKCS#11.
#include "hsm/token.h"
