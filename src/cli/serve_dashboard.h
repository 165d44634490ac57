// The static part of GET /v1/stats (docs/dashboard-api.md) for `kiln serve`: the effective
// configuration with vLLM's flag names, the memory plan and the device, once the engine runs.
#pragma once

#include <string>

#include "engine/engine_args.h"
#include "engine/engine_builder.h"
#include "server/openai_service.h"

namespace kiln::cli {

// `reasoning_parser` is the parser's name after "auto" is resolved.
server::DashboardInfo make_dashboard_info(const std::string& model, const ResolvedEngineArgs& engine,
                                          const std::string& reasoning_parser, const RunningEngine& running);

}  // namespace kiln::cli
