// The engine's side of sampling on the device: a sequence's resolved sampling settings and token
// history become the plain rows and per-token logit adjustments of the sampling operator
// (kernels/sampling.h), and what it returns becomes the engine's TokenLogprob.
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

// The sampled token's logprob and top logprobs, as the CPU sampler's make_token_logprob gives.
TokenLogprob to_token_logprob(const SampledRow& row);

}  // namespace kiln
