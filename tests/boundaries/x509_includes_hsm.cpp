// Must not compile: certificate building never sees the token.
#include "hsm/token.h"
