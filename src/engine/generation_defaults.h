// The model's default sampling settings (from generation_config.json, filled by the CLI; left
// empty with `--generation-config vllm`), and the per-sequence settings after a request's own
// values override them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "engine/sampling_params.h"

namespace kiln {

struct GenerationDefaults {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int> top_k;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::vector<int32_t> eos_token_ids;  // generation_config's eos_token_id (else config.json's)
};

// Everything the sampler and the stop checks need for one sequence, defaults resolved.
struct ResolvedSampling {
  float temperature = 1.0f;  // < kGreedyTemperature = greedy
  float top_p = 1.0f;
  int top_k = 0;  // <= 0 = off
  float min_p = 0.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  std::map<int32_t, float> logit_bias;
  uint64_t seed = 0;
  int min_tokens = 0;
  int max_tokens = 16;
  bool ignore_eos = false;
  std::vector<int32_t> eos_token_ids;
  std::vector<int32_t> stop_token_ids;
  int logprobs = -1;  // top logprobs per generated token; -1 = none
  bool greedy() const;
};

inline constexpr float kGreedyTemperature = 1e-5f;

// The request's values win; unset ones take the defaults, then vLLM's neutral values.
// repetition_penalty takes the default only when the request left it at 1.0. `seed` is the
// sequence's seed (the request's, plus the choice index for n > 1, or a random one).
ResolvedSampling resolve_sampling(const SamplingParams& params, const GenerationDefaults& defaults,
                                  uint64_t seed);

}  // namespace kiln
