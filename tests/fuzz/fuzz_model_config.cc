// config.json parsing and validation from arbitrary text.
#include <cstdint>
#include <string>

#include "model/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = kiln::parse_model_config(text, "config.json");
  if (config.ok()) {
    (void)config->q_size();
    (void)config->kv_size();
  }
  return 0;
}
