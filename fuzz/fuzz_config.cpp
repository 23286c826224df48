// libFuzzer target: custos.toml, as an operator (or a careless editor)
// leaves it (appliance/engine/config.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appliance/engine/config.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    custos::engine::CaConfig config = custos::engine::parse_config(text, "custos.toml");
    (void)custos::engine::config_to_json(config);
  } catch (const custos::Error&) {
  }
  return 0;
}
