#include "engine/generation_defaults.h"

namespace kiln {

bool ResolvedSampling::greedy() const { return temperature < kGreedyTemperature; }

ResolvedSampling resolve_sampling(const SamplingParams& params, const GenerationDefaults& defaults,
                                  uint64_t seed) {
  ResolvedSampling r;
  r.temperature = params.temperature.value_or(defaults.temperature.value_or(1.0f));
  r.top_p = params.top_p.value_or(defaults.top_p.value_or(1.0f));
  r.top_k = params.top_k.value_or(defaults.top_k.value_or(0));
  r.min_p = params.min_p.value_or(defaults.min_p.value_or(0.0f));
  r.presence_penalty = params.presence_penalty;
  r.frequency_penalty = params.frequency_penalty;
  r.repetition_penalty = params.repetition_penalty;
  if (r.repetition_penalty == 1.0f && defaults.repetition_penalty) {
    r.repetition_penalty = *defaults.repetition_penalty;
  }
  r.logit_bias = params.logit_bias;
  r.seed = seed;
  r.min_tokens = params.min_tokens;
  r.max_tokens = params.max_tokens;
  r.ignore_eos = params.ignore_eos;
  r.eos_token_ids = defaults.eos_token_ids;
  r.stop_token_ids = params.stop_token_ids;
  r.logprobs = params.logprobs.value_or(-1);
  return r;
}

}  // namespace kiln
