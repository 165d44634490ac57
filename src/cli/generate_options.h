// `kiln generate`'s flags (the engine's from cli/engine_flags.h plus the prompt and sampling
// ones) and the engine sizing for its one request. Parsing is separate from running so that it
// is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/env_lookup.h"
#include "base/status.h"
#include "cli/commands.h"
#include "engine/engine_args.h"

namespace kiln::cli {

struct GenerateOptions {
  std::string model;
  std::optional<std::string> prompt;
  std::optional<std::string> prompt_ids;
  std::optional<std::string> chat;
  int max_tokens = 256;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int> top_k;
  std::optional<int64_t> seed;  // the request's sampling seed; unset: random
  std::optional<int> top_logprobs;
  bool prompt_logprobs = false;
  bool json = false;
  bool ignore_eos = false;
  bool add_special_tokens = false;
  std::string log_level = "info";
  // One request: one sequence, nothing to share between prompts, and the KV cache sized for it.
  EngineArgs engine;
};

// Parses and validates; on --help returns the defaults with *help_text set.
Result<GenerateOptions> parse_generate_options(const CommandArgs& args, const EnvLookup& env, std::string* help_text);

// The engine for one prompt of `prompt_len` tokens: max_model_len defaults to prompt +
// max-tokens rounded up to the block size (at most `max_position_embeddings`), and without
// --kv-cache-memory the KV cache holds exactly that many tokens, counted in blocks so that it
// means the same whatever the backend's KV dtype.
EngineArgs generate_engine_args(const GenerateOptions& options, int prompt_len, int max_position_embeddings);

}  // namespace kiln::cli
