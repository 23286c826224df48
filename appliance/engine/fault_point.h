// Fault injection for the crash tests: in a build with CUSTOS_FAULT_POINTS
// (the presets that build the tests), a process whose environment has
// CUSTOS_FAULT=<point> kills itself with SIGKILL at that point, as a power
// cut or the OOM killer would. In other builds it is nothing at all.
#pragma once

#include <string_view>

#ifdef CUSTOS_FAULT_POINTS
#include <signal.h>

#include <cstdlib>
#endif

namespace custos::engine {

inline void fault_point([[maybe_unused]] std::string_view point) {
#ifdef CUSTOS_FAULT_POINTS
  const char* wanted = std::getenv("CUSTOS_FAULT");
  if (wanted != nullptr && point == wanted) ::raise(SIGKILL);
#endif
}

}  // namespace custos::engine
