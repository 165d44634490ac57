// What a request asks of generation, already validated by the api layer (or the CLI). Unset
// optionals take the model's generation_config.json defaults (engine/generation_defaults.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grammar/compiled_grammar.h"

namespace kiln {

struct SamplingParams {
  int n = 1;
  std::optional<float> temperature;  // 0 = greedy
  std::optional<float> top_p;        // (0, 1]
  std::optional<int> top_k;          // -1 or 0 = off
  std::optional<float> min_p;        // [0, 1]
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  std::map<int32_t, float> logit_bias;
  std::optional<uint64_t> seed;

  int max_tokens = 16;  // already clamped to max_model_len - prompt_len by the caller
  int min_tokens = 0;
  bool ignore_eos = false;
  std::vector<std::string> stop;          // stop strings, matched on detokenized text
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;

  std::optional<int> logprobs;         // number of top logprobs per generated token (0 = only the chosen)
  std::optional<int> prompt_logprobs;  // number of top logprobs per prompt token

  // Structured outputs: every choice's output must match this grammar (compiled off the engine
  // thread; each choice gets its own matcher). With grammar_after_token >= 0 (a reasoning
  // model's end-of-thinking token) the constraint starts after that token appears.
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  int32_t grammar_after_token = -1;
};

}  // namespace kiln
