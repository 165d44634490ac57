// The reference twin of the CUDA sampling kernel: the same passes in the same arithmetic, one
// row at a time (see kernels/sampling.h for what both share).
#include "kernels/sampling.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

namespace kiln::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Largest bit pattern b in [low, high] (positive floats, ordered as their bits) with keep(b) true;
// keep(low) must hold and keep must be monotone (true up to some b, false after).
template <typename Predicate>
uint32_t bisect_threshold(uint32_t low, uint32_t high, Predicate keep) {
  while (low < high) {
    const uint32_t mid = low + (high - low + 1) / 2;
    if (keep(std::bit_cast<float>(mid))) low = mid;
    else high = mid - 1;
  }
  return low;
}

int32_t argmax(const std::vector<float>& x) {
  int32_t best = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i] > x[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

int32_t draw(std::vector<float>& x, int vocab, const SamplingRowParams& p, bool masked) {
  float max_logit = kNegInf;
  for (float v : x) max_logit = std::max(max_logit, v);
  if (max_logit == kNegInf) return masked ? kNoAllowedToken : 0;  // every token blocked: nothing to draw from
  for (float& v : x) v = v == kNegInf ? 0.0f : std::exp((v - max_logit) / p.temperature);

  // Kept: p >= threshold (and p > 0). The largest probability is exactly 1.
  float threshold = std::max(p.min_p, std::numeric_limits<float>::denorm_min());
  const uint32_t one_bits = std::bit_cast<uint32_t>(1.0f);
  if (p.top_k > 0 && p.top_k < vocab) {
    auto count_at_least = [&](float t) {
      int64_t count = 0;
      for (float v : x) count += v >= t;
      return count;
    };
    if (count_at_least(threshold) > p.top_k) {
      threshold = std::bit_cast<float>(bisect_threshold(std::bit_cast<uint32_t>(threshold), one_bits,
                                                        [&](float t) { return count_at_least(t) >= p.top_k; }));
    }
  }
  auto mass_at_least = [&](float t) {
    double mass = 0;
    for (float v : x) mass += v >= t ? static_cast<double>(v) : 0.0;
    return mass;
  };
  if (p.top_p < 1.0f) {
    const double target = static_cast<double>(p.top_p) * mass_at_least(threshold);
    threshold = std::bit_cast<float>(bisect_threshold(std::bit_cast<uint32_t>(threshold), one_bits,
                                                      [&](float t) { return mass_at_least(t) >= target; }));
  }

  double target = sampling_draw_uniform(p.seed, p.counter) * mass_at_least(threshold);
  // A draft is walked first: accepted with probability p(draft), else the walk below skips it.
  const int32_t draft = p.draft_token_id;
  const bool has_draft = draft >= 0 && draft < vocab;
  if (has_draft) {
    const float draft_mass = x[draft] >= threshold ? x[draft] : 0.0f;
    if (target < draft_mass) return draft;
    target -= draft_mass;
    x[draft] = 0.0f;
  }
  // Walk the ids in kSamplingChunks contiguous chunks, as the kernel's threads own them.
  const int chunk = (vocab + kSamplingChunks - 1) / kSamplingChunks;
  double before = 0;
  int32_t last_kept = -1;
  for (int begin = 0; begin < vocab; begin += chunk) {
    const int end = std::min(vocab, begin + chunk);
    double chunk_mass = 0;
    int32_t chunk_last_kept = -1;
    for (int i = begin; i < end; ++i) {
      if (x[i] >= threshold) {
        chunk_mass += x[i];
        chunk_last_kept = i;
      }
    }
    const double local_target = target - before;
    if (local_target >= 0 && chunk_mass > local_target) {
      double running = 0;
      for (int i = begin; i < end; ++i) {
        if (x[i] < threshold) continue;
        running += x[i];
        if (running > local_target) return i;
      }
      return chunk_last_kept;  // rounding inside the chunk
    }
    before += chunk_mass;
    if (chunk_last_kept >= 0) last_kept = chunk_last_kept;
  }
  // Rounding left target at or beyond the summed mass; with a draft and nothing else kept, the
  // draft was the whole mass.
  return last_kept >= 0 || !has_draft ? last_kept : draft;
}

void fill_logprobs(const float* raw, int vocab, int num_top, SampledRow* out) {
  float max_logit = kNegInf;
  for (int i = 0; i < vocab; ++i) max_logit = std::max(max_logit, raw[i]);
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(raw[i] - max_logit);
  const float log_sum = max_logit + static_cast<float>(std::log(sum));
  const float chosen = raw[out->token_id];
  out->logprob = chosen - log_sum;
  int32_t rank = 1;
  for (int i = 0; i < vocab; ++i) rank += raw[i] > chosen;
  out->rank = rank;
  out->num_top = std::min({num_top, vocab, kMaxSampledTopLogprobs});
  // Repeated selection of the best (value, then lower id) below the previous pick.
  float previous_value = std::numeric_limits<float>::infinity();
  int32_t previous_id = -1;
  for (int k = 0; k < out->num_top; ++k) {
    int32_t best = -1;
    for (int i = 0; i < vocab; ++i) {
      const bool below_previous = raw[i] < previous_value || (raw[i] == previous_value && i > previous_id);
      if (below_previous && (best < 0 || raw[i] > raw[best])) best = i;
    }
    out->top_ids[k] = best;
    out->top_logprobs[k] = raw[best] - log_sum;
    previous_value = raw[best];
    previous_id = best;
  }
}

}  // namespace

void sample_rows(const float* logits, int vocab, std::span<const SamplingRowParams> params,
                 std::span<const LogitAdjustment> adjustments, SampledRow* out, const uint32_t* bitmasks) {
  std::vector<float> x(static_cast<size_t>(vocab));
  for (size_t r = 0; r < params.size(); ++r) {
    const SamplingRowParams& p = params[r];
    const float* raw = logits + static_cast<size_t>(p.logits_row) * vocab;
    std::copy(raw, raw + vocab, x.begin());
    const bool masked = bitmasks && p.bitmask_row >= 0;
    if (masked) {
      const uint32_t* mask = bitmasks + static_cast<size_t>(p.bitmask_row) * static_cast<size_t>(sampling_bitmask_words(vocab));
      for (int i = 0; i < vocab; ++i) {
        if (!((mask[i / 32] >> (i % 32)) & 1u)) x[static_cast<size_t>(i)] = kNegInf;
      }
    }
    for (int j = 0; j < p.num_adjustments; ++j) {
      const LogitAdjustment& a = adjustments[static_cast<size_t>(p.adjustments_begin + j)];
      if (a.token_id < 0 || a.token_id >= vocab) continue;
      float v = a.blocked ? kNegInf : x[a.token_id];
      v += a.bias;
      if (a.repetition_penalty != 1.0f) v = v > 0 ? v / a.repetition_penalty : v * a.repetition_penalty;
      x[a.token_id] = v - a.subtract;
    }
    SampledRow row;
    if (p.greedy) {
      row.token_id = argmax(x);
      if (masked && x[static_cast<size_t>(row.token_id)] == kNegInf) row.token_id = kNoAllowedToken;
    } else {
      row.token_id = draw(x, vocab, p, masked);
    }
    if (p.num_top_logprobs >= 0 && row.token_id >= 0) fill_logprobs(raw, vocab, p.num_top_logprobs, &row);
    out[r] = row;
  }
}

}  // namespace kiln::cpu
