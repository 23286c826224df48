// Must not compile: the module protocol knows nothing of the engine.
#include "appliance/engine/authority.h"
