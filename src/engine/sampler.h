// The CPU sampler: one logits row in, one token out, in vLLM v1's order:
//   raw logprobs (log_softmax of the model's logits, what vLLM returns by default)
//   -> min_tokens (EOS and stop token ids blocked) and logit_bias
//   -> repetition penalty (prompt + output), frequency and presence penalties (output)
//   -> greedy argmax, or temperature -> min_p -> top_k -> top_p -> draw.
// The draw uses a counter-based generator keyed by (seed, output position), so a sequence's
// tokens depend only on its own logits and seed, never on the batch it ran in.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/generation_defaults.h"
#include "engine/request_output.h"

namespace kiln {

struct SampledToken {
  int32_t token_id = 0;
  std::optional<TokenLogprob> logprob;  // when params.logprobs >= 0
};

// A uniform double in [0, 1) from (seed, counter): splitmix64 of both.
double sampling_uniform(uint64_t seed, uint64_t counter);

// log_softmax of `logits`, in place semantics on a copy.
std::vector<float> log_softmax(std::span<const float> logits);

// The logprob and rank of `token_id` and the `num_top` best (ties by lower id), from the
// log_softmax of the raw logits.
TokenLogprob make_token_logprob(std::span<const float> logprobs, int32_t token_id, int num_top);

// Applies min_tokens, logit_bias and the penalties to `logits` in place.
void apply_logits_processors(const ResolvedSampling& params, std::span<const int32_t> prompt,
                             std::span<const int32_t> output, std::span<float> logits);

// The probabilities a non-greedy draw uses (temperature, min_p, top_k, top_p applied), over the
// processed logits.
std::vector<float> sampling_probs(const ResolvedSampling& params, std::span<const float> logits);

SampledToken sample_token(const ResolvedSampling& params, std::span<const float> raw_logits,
                          std::span<const int32_t> prompt, std::span<const int32_t> output);

}  // namespace kiln
