// Glue between the tokenizer layer and the engine: the tokenizer's StreamingDetokenizer as the
// engine's per-sequence detokenizer, and generation_config.json as the engine's sampling
// defaults. The CLI and the server build an Engine with these:
//
//   EngineConfig config;
//   config.generation_defaults = use_file ? generation_defaults_from(gen_config, model_config)
//                                         : generation_defaults_from_model(model_config);
//   Engine engine(config, std::make_unique<CpuModelExecutor>(std::move(cpu_model)),
//                 make_detokenizer_factory(tokenizer));
#pragma once

#include <memory>

#include "engine/detokenizer.h"
#include "engine/generation_defaults.h"
#include "model/model_config.h"
#include "tokenizer/generation_config.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

DetokenizerFactory make_detokenizer_factory(std::shared_ptr<const Tokenizer> tokenizer);

// Sampling defaults and EOS ids from generation_config.json (EOS from config.json when the file
// names none), as vLLM's default `--generation-config auto`.
GenerationDefaults generation_defaults_from(const GenerationConfig& generation,
                                            const ModelConfig& model);
// `--generation-config vllm`: vLLM's neutral sampling defaults; EOS still from config.json.
GenerationDefaults generation_defaults_from_model(const ModelConfig& model);

}  // namespace kiln
