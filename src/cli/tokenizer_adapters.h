// Glue between the tokenizer layer and the engine, kept above both so that the engine links
// neither the tokenizer nor Jinja nor PCRE2: the tokenizer's StreamingDetokenizer as the engine's
// per-sequence detokenizer, and generation_config.json as the engine's sampling defaults.
// cli/engine_start.h builds every command's Engine with these.
#pragma once

#include <memory>

#include "engine/detokenizer.h"
#include "engine/generation_defaults.h"
#include "model/model_config.h"
#include "tokenizer/generation_config.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

DetokenizerFactory make_detokenizer_factory(std::shared_ptr<const tokenizer::Tokenizer> tokenizer);

// Sampling defaults and EOS ids from generation_config.json (EOS from config.json when the file
// names none), as vLLM's default `--generation-config auto`.
GenerationDefaults generation_defaults_from(const tokenizer::GenerationConfig& generation,
                                            const ModelConfig& model);
// `--generation-config vllm`: vLLM's neutral sampling defaults; EOS still from config.json.
GenerationDefaults generation_defaults_from_model(const ModelConfig& model);

}  // namespace kiln::cli
