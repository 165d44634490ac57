// Everything between a model directory and a running Engine, shared by `kiln serve` and
// `kiln generate`: the backend (cli/model_backend.h), sampling defaults from
// generation_config.json (or vLLM's neutral ones with --generation-config vllm), and the
// tokenizer's streaming detokenizer for text deltas and stop strings.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "base/status.h"
#include "cli/model_backend.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

struct EngineSetupOptions {
  BackendOptions backend;
  bool enable_prefix_caching = true;
  // "auto": the model folder's generation_config.json when present; "vllm": ignore it; any
  // other value: a folder holding a generation_config.json.
  std::string generation_config = "auto";
};

struct RunningEngine {
  // Declared before `engine` so that they outlive it.
  std::unique_ptr<LoadedModel> host_weights;
  ModelConfig config;
  MemoryPlan plan;
  std::string device;
  std::string device_name;
  int64_t device_memory_bytes = 0;
  std::unique_ptr<Engine> engine;
  const ModelExecutor* executor = nullptr;  // owned by `engine`
};

Result<RunningEngine> start_engine(const std::filesystem::path& model_dir, const EngineSetupOptions& options,
                                   std::shared_ptr<const Tokenizer> tokenizer);

}  // namespace kiln
