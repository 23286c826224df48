// Must compile: the control that shows a view lets through what it lists.
#include "common/error.h"
#include "hsm/token.h"
