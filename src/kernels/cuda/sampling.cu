// Sampling on the device: one block of kSamplingChunks threads per row. The row is widened to
// f32 scratch, adjusted, then either reduced to its argmax or turned into probabilities whose
// min_p / top_k / top_p cut-offs are bisected on the float's bits (each probe one block-wide
// count or f64 mass), and drawn by an f64 exclusive scan over contiguous per-thread chunks.
// Pass for pass the arithmetic of cpu::sample_rows (kernels/cpu/sampling.cc).
#include <cfloat>
#include <climits>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/sampling_cuda.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = kSamplingChunks;
constexpr int kWarps = kThreads / 32;
static_assert(kWarps == 32, "the block reductions fold one value per warp in one warp");

struct BlockShared {
  double doubles[kWarps];
  float floats[kWarps];
  int ints[kWarps];
  long long counts[kWarps];
  int chosen;
};

template <typename T>
__device__ T block_sum(T v, T* shared) {
  v = warp_sum(v);
  __syncthreads();
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = v;
  __syncthreads();
  return warp_sum(shared[threadIdx.x % 32]);
}

__device__ float block_max(float v, float* shared) {
  v = warp_max(v);
  __syncthreads();
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = v;
  __syncthreads();
  return warp_max(shared[threadIdx.x % 32]);
}

// (value, id) with the larger value winning and ties going to the lower id; id -1 = none.
struct Candidate {
  float value;
  int id;
};

__device__ bool better(const Candidate& a, const Candidate& b) {
  if (a.id < 0) return false;
  if (b.id < 0) return true;
  return a.value > b.value || (a.value == b.value && a.id < b.id);
}

__device__ Candidate warp_best(Candidate c) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    Candidate other{__shfl_xor_sync(0xffffffffu, c.value, offset), __shfl_xor_sync(0xffffffffu, c.id, offset)};
    if (better(other, c)) c = other;
  }
  return c;
}

__device__ Candidate block_best(Candidate c, BlockShared& s) {
  c = warp_best(c);
  __syncthreads();
  if (threadIdx.x % 32 == 0) {
    s.floats[threadIdx.x / 32] = c.value;
    s.ints[threadIdx.x / 32] = c.id;
  }
  __syncthreads();
  return warp_best(Candidate{s.floats[threadIdx.x % 32], s.ints[threadIdx.x % 32]});
}

// Exclusive prefix sum over the block's threads in thread order.
__device__ double block_exclusive_scan(double v, double* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  double inclusive = v;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const double up = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += up;
  }
  __syncthreads();
  if (lane == 31) shared[warp] = inclusive;
  __syncthreads();
  double warp_total = lane < kWarps ? shared[lane] : 0.0;
  double warp_prefix = 0;  // sum of the warps before `warp`
  for (int offset = 1; offset < 32; offset <<= 1) {
    const double up = __shfl_up_sync(0xffffffffu, warp_total, offset);
    if (lane >= offset) warp_total += up;
  }
  warp_prefix = __shfl_sync(0xffffffffu, warp_total, warp > 0 ? warp - 1 : 0);
  if (warp == 0) warp_prefix = 0;
  return warp_prefix + inclusive - v;
}

__device__ long long count_at_least(const float* x, int vocab, float threshold, BlockShared& s) {
  long long count = 0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) count += x[i] >= threshold;
  return block_sum(count, s.counts);
}

__device__ double mass_at_least(const float* x, int vocab, float threshold, BlockShared& s) {
  double mass = 0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = x[i];
    if (v >= threshold) mass += v;
  }
  return block_sum(mass, s.doubles);
}

template <typename Predicate>
__device__ uint32_t bisect_threshold(uint32_t low, uint32_t high, Predicate keep) {
  while (low < high) {
    const uint32_t mid = low + (high - low + 1) / 2;
    if (keep(__uint_as_float(mid))) low = mid;
    else high = mid - 1;
  }
  return low;
}

__device__ int draw(float* x, int vocab, const SamplingRowParams& p, bool masked, BlockShared& s) {
  float local_max = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += kThreads) local_max = fmaxf(local_max, x[i]);
  const float max_logit = block_max(local_max, s.floats);
  if (max_logit == -INFINITY) return masked ? kNoAllowedToken : 0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = x[i];
    x[i] = v == -INFINITY ? 0.0f : expf((v - max_logit) / p.temperature);
  }
  __syncthreads();

  float threshold = fmaxf(p.min_p, FLT_TRUE_MIN);
  const uint32_t one_bits = __float_as_uint(1.0f);
  if (p.top_k > 0 && p.top_k < vocab && count_at_least(x, vocab, threshold, s) > p.top_k) {
    threshold = __uint_as_float(bisect_threshold(__float_as_uint(threshold), one_bits, [&](float t) {
      return count_at_least(x, vocab, t, s) >= p.top_k;
    }));
  }
  if (p.top_p < 1.0f) {
    const double target = static_cast<double>(p.top_p) * mass_at_least(x, vocab, threshold, s);
    threshold = __uint_as_float(bisect_threshold(__float_as_uint(threshold), one_bits, [&](float t) {
      return mass_at_least(x, vocab, t, s) >= target;
    }));
  }

  double target = sampling_draw_uniform(p.seed, p.counter) * mass_at_least(x, vocab, threshold, s);
  // A draft is walked first: accepted with probability p(draft), else the walk below skips it.
  const int draft = p.draft_token_id;
  const bool has_draft = draft >= 0 && draft < vocab;
  if (has_draft) {
    const float draft_value = x[draft];  // every thread reads it before one zeroes it
    const float draft_mass = draft_value >= threshold ? draft_value : 0.0f;
    if (target < draft_mass) return draft;
    target -= draft_mass;
    __syncthreads();
    if (threadIdx.x == 0) x[draft] = 0.0f;
    __syncthreads();
  }
  const int chunk = (vocab + kThreads - 1) / kThreads;
  const int begin = min(vocab, static_cast<int>(threadIdx.x) * chunk);
  const int end = min(vocab, begin + chunk);
  double chunk_mass = 0;
  int last_kept = -1;
  for (int i = begin; i < end; ++i) {
    if (x[i] >= threshold) {
      chunk_mass += x[i];
      last_kept = i;
    }
  }
  const double before = block_exclusive_scan(chunk_mass, s.doubles);
  if (threadIdx.x == 0) s.chosen = INT_MAX;
  __syncthreads();
  const double local_target = target - before;
  if (local_target >= 0 && chunk_mass > local_target) {
    double running = 0;
    int pick = last_kept;  // rounding inside the chunk: its last kept token
    for (int i = begin; i < end; ++i) {
      if (x[i] < threshold) continue;
      running += x[i];
      if (running > local_target) {
        pick = i;
        break;
      }
    }
    atomicMin(&s.chosen, pick);
  }
  __syncthreads();
  const int chosen = s.chosen;
  if (chosen != INT_MAX) return chosen;
  // Rounding left the target at or beyond the summed mass: the last kept token (with a draft and
  // nothing else kept, the draft was the whole mass).
  __syncthreads();
  Candidate last{static_cast<float>(last_kept), last_kept};
  const int last_id = block_best(last, s).id;
  return last_id >= 0 || !has_draft ? last_id : draft;
}

__device__ void fill_logprobs(const __nv_bfloat16* raw, int vocab, int num_top, int token, BlockShared& s,
                              SampledRow* out) {
  float local_max = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += kThreads) local_max = fmaxf(local_max, __bfloat162float(raw[i]));
  const float max_logit = block_max(local_max, s.floats);
  double sum = 0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) sum += expf(__bfloat162float(raw[i]) - max_logit);
  const double total = block_sum(sum, s.doubles);
  const float log_sum = max_logit + static_cast<float>(log(total));
  const float chosen = __bfloat162float(raw[token]);
  long long greater = 0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) greater += __bfloat162float(raw[i]) > chosen;
  greater = block_sum(greater, s.counts);
  num_top = min(min(num_top, vocab), kMaxSampledTopLogprobs);
  if (threadIdx.x == 0) {
    out->logprob = chosen - log_sum;
    out->rank = static_cast<int32_t>(greater + 1);
    out->num_top = num_top;
  }
  float previous_value = INFINITY;
  int previous_id = -1;
  for (int k = 0; k < num_top; ++k) {
    Candidate best{0.0f, -1};
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
      const float v = __bfloat162float(raw[i]);
      const bool below_previous = v < previous_value || (v == previous_value && i > previous_id);
      if (below_previous && better(Candidate{v, i}, best)) best = Candidate{v, i};
    }
    best = block_best(best, s);
    if (threadIdx.x == 0) {
      out->top_ids[k] = best.id;
      out->top_logprobs[k] = best.value - log_sum;
    }
    previous_value = best.value;
    previous_id = best.id;
  }
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(const __nv_bfloat16* __restrict__ logits, int vocab, int row_offset,
                       const SamplingRowParams* __restrict__ params, const LogitAdjustment* __restrict__ adjustments,
                       float* __restrict__ workspace, SampledRow* __restrict__ out, const uint32_t* __restrict__ bitmasks) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  __shared__ BlockShared shared;
  const SamplingRowParams p = params[blockIdx.x];
  const __nv_bfloat16* raw = logits + static_cast<size_t>(p.logits_row - row_offset) * vocab;
  float* x = workspace + static_cast<size_t>(blockIdx.x) * vocab;
  const bool masked = bitmasks != nullptr && p.bitmask_row >= 0;
  if (masked) {
    const uint32_t* mask = bitmasks + static_cast<size_t>(p.bitmask_row) * sampling_bitmask_words(vocab);
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
      x[i] = (mask[i / 32] >> (i % 32)) & 1u ? __bfloat162float(raw[i]) : -INFINITY;
    }
  } else {
    for (int i = threadIdx.x; i < vocab; i += kThreads) x[i] = __bfloat162float(raw[i]);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < p.num_adjustments; j += kThreads) {
    const LogitAdjustment a = adjustments[p.adjustments_begin + j];
    if (a.token_id < 0 || a.token_id >= vocab) continue;
    float v = a.blocked ? -INFINITY : x[a.token_id];
    v += a.bias;
    if (a.repetition_penalty != 1.0f) v = v > 0 ? v / a.repetition_penalty : v * a.repetition_penalty;
    x[a.token_id] = v - a.subtract;
  }
  __syncthreads();

  int token;
  if (p.greedy) {
    Candidate best{0.0f, -1};
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
      if (better(Candidate{x[i], i}, best)) best = Candidate{x[i], i};
    }
    best = block_best(best, shared);
    token = masked && best.value == -INFINITY ? kNoAllowedToken : best.id;
  } else {
    token = draw(x, vocab, p, masked, shared);
  }
  SampledRow* row = out + blockIdx.x;
  if (threadIdx.x == 0) {
    row->token_id = token;
    row->logprob = 0.0f;
    row->rank = 0;
    row->num_top = 0;
  }
  if (p.num_top_logprobs >= 0 && token >= 0) fill_logprobs(raw, vocab, p.num_top_logprobs, token, shared, row);
}

}  // namespace

size_t sampling_workspace_bytes(int max_rows, int vocab) {
  return static_cast<size_t>(max_rows) * static_cast<size_t>(vocab) * sizeof(float);
}

void sample_rows(const __nv_bfloat16* logits, int vocab, int row_offset, const SamplingRowParams* params,
                 int num_rows, const LogitAdjustment* adjustments, float* workspace, SampledRow* out,
                 cudaStream_t stream, const uint32_t* bitmasks) {
  if (num_rows <= 0) return;
  launch_with_grid_dependency(sample_rows_kernel, dim3(num_rows), dim3(kThreads), 0, stream, logits, vocab, row_offset, params,
                              adjustments, workspace, out, bitmasks);
  KILN_CUDA_CHECK_LAUNCH();
}

}  // namespace kiln::cuda
