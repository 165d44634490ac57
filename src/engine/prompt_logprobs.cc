#include "engine/prompt_logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln {

std::vector<float> log_softmax(std::span<const float> logits) {
  std::vector<float> out(logits.begin(), logits.end());
  float max_logit = -std::numeric_limits<float>::infinity();
  for (float x : logits) max_logit = std::max(max_logit, x);
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max_logit);
  const float log_sum = static_cast<float>(std::log(sum)) + max_logit;
  for (float& x : out) x -= log_sum;
  return out;
}

TokenLogprob make_token_logprob(std::span<const float> logprobs, int32_t token_id, int num_top) {
  TokenLogprob lp;
  lp.token_id = token_id;
  lp.logprob = logprobs[token_id];
  lp.rank = static_cast<int>(std::count_if(logprobs.begin(), logprobs.end(),
                                           [&](float x) { return x >= lp.logprob; }));
  num_top = std::min<int>(num_top, static_cast<int>(logprobs.size()));
  if (num_top > 0) {
    std::vector<int32_t> ids(logprobs.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + num_top, ids.end(), [&](int32_t a, int32_t b) {
      return logprobs[a] != logprobs[b] ? logprobs[a] > logprobs[b] : a < b;
    });
    for (int i = 0; i < num_top; ++i) lp.top.emplace_back(ids[i], logprobs[ids[i]]);
  }
  return lp;
}

}  // namespace kiln
