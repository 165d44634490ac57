// The engine's side of sampling, which every backend runs with the sampling operator
// (kernels/sampling.h) where the logits are: a sequence's resolved sampling settings and token
// history become the operator's plain rows and per-token logit adjustments, and what it returns
// becomes the engine's TokenLogprob.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/generation_defaults.h"
#include "engine/request_output.h"
#include "kernels/sampling.h"

namespace kiln {

// The row for one sequence sampling from logits row `logits_row`; its adjustments (min_tokens
// blocking, logit_bias, penalties over `prompt` and `output`) are appended to `adjustments`.
SamplingRowParams make_sampling_row(const ResolvedSampling& params, int logits_row,
                                    std::span<const int32_t> prompt, std::span<const int32_t> output,
                                    std::vector<LogitAdjustment>* adjustments);

// The sampled token's logprob, rank and top logprobs, as make_token_logprob gives them from the
// raw logits (engine/prompt_logprobs.h).
TokenLogprob to_token_logprob(const SampledRow& row);

}  // namespace kiln
