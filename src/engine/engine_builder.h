// Everything between a model directory and a running Engine, for every command: the backend and
// its memory plan (engine/model_backend.h), the scheduler's and the cache's sizes from the
// resolved EngineArgs, and the test-only fault injection. The caller brings what the layers
// above make: the sampling defaults (generation_config.json) and the detokenizer.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "engine/detokenizer.h"
#include "engine/engine.h"
#include "engine/engine_args.h"
#include "engine/generation_defaults.h"
#include "model/memory_plan.h"
#include "model/model_config.h"
#include "model/model_loader.h"

namespace kiln {

struct RunningEngine {
  // Declared before `engine` so that they outlive it.
  std::unique_ptr<LoadedModel> host_weights;
  ModelConfig config;
  MemoryPlan plan;
  std::string device;  // "cpu" or "cuda"
  std::string device_name;
  int64_t device_memory_bytes = 0;
  std::unique_ptr<Engine> engine;
  const ModelExecutor* executor = nullptr;  // owned by `engine`
};

// `detokenizer` may be empty (outputs then carry token ids only). `make_draft_proposer` supplies
// the drafts of speculative method "oracle" (the latency benchmark's); other methods bring their
// own.
Result<RunningEngine> build_engine(const std::filesystem::path& model_dir, const ResolvedEngineArgs& resolved,
                                   const GenerationDefaults& generation_defaults, DetokenizerFactory detokenizer,
                                   std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer = nullptr);

}  // namespace kiln
