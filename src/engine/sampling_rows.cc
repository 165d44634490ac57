#include "engine/sampling_rows.h"

#include <algorithm>
#include <unordered_map>

namespace kiln {

SamplingRowParams make_sampling_row(const ResolvedSampling& p, int logits_row, std::span<const int32_t> prompt,
                                    std::span<const int32_t> output, std::vector<LogitAdjustment>* adjustments) {
  SamplingRowParams row;
  row.logits_row = logits_row;
  row.greedy = p.greedy() ? 1 : 0;
  row.temperature = p.temperature;
  row.top_k = p.top_k;
  row.top_p = p.top_p;
  row.min_p = p.min_p;
  row.seed = p.seed;
  row.counter = output.size();
  row.num_top_logprobs = p.logprobs < 0 ? -1 : std::min(p.logprobs, kMaxSampledTopLogprobs);
  row.adjustments_begin = static_cast<int32_t>(adjustments->size());

  // One entry per touched token, in first-touch order; the operator applies each entry's parts in
  // vLLM's order (block, bias, repetition, frequency/presence).
  std::unordered_map<int32_t, size_t> index;
  auto entry = [&](int32_t token) -> LogitAdjustment& {
    auto [it, inserted] = index.emplace(token, adjustments->size());
    if (inserted) {
      LogitAdjustment a;
      a.token_id = token;
      adjustments->push_back(a);
    }
    return (*adjustments)[it->second];
  };
  if (static_cast<int>(output.size()) < p.min_tokens) {
    for (int32_t t : p.stop_token_ids) entry(t).blocked = 1;
    if (!p.ignore_eos) {
      for (int32_t t : p.eos_token_ids) entry(t).blocked = 1;
    }
  }
  for (const auto& [t, bias] : p.logit_bias) entry(t).bias = bias;
  if (p.repetition_penalty != 1.0f) {
    for (int32_t t : prompt) entry(t).repetition_penalty = p.repetition_penalty;
    for (int32_t t : output) entry(t).repetition_penalty = p.repetition_penalty;
  }
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : output) ++counts[t];
    for (const auto& [t, count] : counts) {
      entry(t).subtract = p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
    }
  }
  row.num_adjustments = static_cast<int32_t>(adjustments->size()) - row.adjustments_begin;
  return row;
}

TokenLogprob to_token_logprob(const SampledRow& row) {
  TokenLogprob lp;
  lp.token_id = row.token_id;
  lp.logprob = row.logprob;
  lp.rank = row.rank;
  for (int k = 0; k < row.num_top; ++k) lp.top.emplace_back(row.top_ids[k], row.top_logprobs[k]);
  return lp;
}

}  // namespace kiln
