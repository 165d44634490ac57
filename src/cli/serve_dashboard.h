// The static part of GET /v1/stats (docs/dashboard-api.md) for `kiln serve`: the effective
// configuration with vLLM's flag names, the memory plan and the device, once the engine runs.
#pragma once

#include <string>

#include "cli/engine_setup.h"
#include "cli/serve_options.h"
#include "server/openai_service.h"

namespace kiln {

struct EffectiveServeConfig {
  int max_model_len = 0;
  int max_num_batched_tokens = 0;
  std::string reasoning_parser;  // after "auto" is resolved
};

server::DashboardInfo make_dashboard_info(const ServeOptions& options, const EffectiveServeConfig& effective,
                                          const RunningEngine& running);

}  // namespace kiln
