// --speculative-config: vLLM's JSON object ('{"method": "ngram", "num_speculative_tokens": 4,
// ...}') into the engine's SpeculativeConfig. Unknown keys and wrong types are errors naming the
// key; the method's defaults are filled later (resolve_speculative_config).
#pragma once

#include <string>

#include "base/status.h"
#include "engine/spec/speculative_config.h"

namespace kiln::cli {

Result<SpeculativeConfig> parse_speculative_config(const std::string& json_text);

}  // namespace kiln::cli
