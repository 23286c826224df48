// Must not compile: the token layer knows nothing of the store.
#include "storage/store.h"
