// Must not compile: the front end reaches the engine only through its calls.
#include "appliance/engine/engine.h"
