// Logprobs of prompt tokens, computed on the host from the logits rows a step returns whole
// (generated tokens' logprobs come from the sampling operator with their token).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/request_output.h"

namespace kiln {

// log_softmax of `logits` (max-subtracted, summed in f64).
std::vector<float> log_softmax(std::span<const float> logits);

// The logprob and rank of `token_id` and the `num_top` best (ties by lower id), from the
// log_softmax of the raw logits.
TokenLogprob make_token_logprob(std::span<const float> logprobs, int32_t token_id, int num_top);

}  // namespace kiln
