// What a command does to run an engine once its flags are resolved (engine/engine_args.h): the
// sampling defaults from --generation-config, the tokenizer's streaming detokenizer, then
// build_engine. Shared by serve, generate and both benchmarks.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>

#include "base/status.h"
#include "engine/engine_args.h"
#include "engine/engine_builder.h"
#include "engine/generation_defaults.h"
#include "model/model_config.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

// --generation-config: "auto" reads MODEL_DIR/generation_config.json when there is one, "vllm"
// keeps vLLM's neutral defaults, anything else is a folder that must hold the file. EOS ids come
// from config.json when the file names none.
Result<GenerationDefaults> load_generation_defaults(const std::filesystem::path& model_dir, const std::string& flag,
                                                    const ModelConfig& model);

// `model` is MODEL_DIR/config.json, which `resolved` was resolved against. `tokenizer` may be
// null (the benchmarks): outputs then carry token ids only.
// `make_draft_proposer`: build_engine's (the latency benchmark's oracle).
Result<RunningEngine> start_engine(const std::filesystem::path& model_dir, const ModelConfig& model,
                                   const ResolvedEngineArgs& resolved, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                   std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer = nullptr);

// For commands that need nothing from the resolved args before the engine runs (the
// benchmarks): reads the environment into `args` (read_engine_environment), then
// MODEL_DIR/config.json, resolve_engine_args and start_engine.
Result<RunningEngine> start_engine_from_args(const std::filesystem::path& model_dir, EngineArgs args,
                                             std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                             std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer = nullptr);

}  // namespace kiln::cli
