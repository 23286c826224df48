// Must not compile: the custos command does not link the daemon.
#include "appliance/server/daemon.h"
