// Sampling of next tokens from a step's logits rows, as one operator with a CPU twin
// (cpu::sample_rows here, reference) and a CUDA launcher (kernels/cuda/sampling_cuda.h) that take
// the same plain arguments, so that a device backend returns token ids instead of 128k logits
// per sequence. It is the only sampler: every backend samples with it (the CPU backend with the
// twin), so CPU and GPU pick the same tokens from the same logits.
//
// vLLM v1's order: per-token adjustments (min_tokens blocking, logit_bias, repetition / frequency
// / presence penalties), then greedy argmax, or temperature -> min_p -> top_k -> top_p and a draw
// from sampling_draw_uniform(seed, counter). The cut-offs are found without sorting: each is the
// largest probability threshold whose kept set still holds k tokens (top_k) or top_p of the mass
// (top_p), found by bisection on the float's bits, so tokens that tie exactly at a cut-off are all
// kept (a sorting sampler would break the tie by id).
//
// Structured outputs restrict a row to the tokens of a bitmask (one bit per token id, 32 ids per
// uint32 word, bit id % 32 of word id / 32): the other tokens' logits become -inf before the
// adjustments, so no adjustment brings them back. A masked row whose mask (with the adjustments)
// leaves no token yields kNoAllowedToken rather than a token the mask forbids; rows without a
// mask keep their behavior (every token blocked: token 0).
//
// Speculative decoding verifies a drafted token by rejection sampling (Leviathan et al., with the
// draft as a point mass, as vLLM's n-gram and greedy EAGLE drafts are): a row with a
// draft_token_id draws from the same kept distribution p with the draft walked first, so one
// uniform u accepts the draft when u x mass < p(draft) (probability p(draft)) and otherwise walks
// the other kept ids from u x mass - p(draft): the recovered token, drawn from p without the
// draft, renormalized. Either way the row's token is distributed exactly as p, and it equals the
// draft if and only if the draft is accepted, so a sequence's verify rows are sampled
// independently and its output is the drafts up to the first row whose token differs, then that
// row's token. A greedy row takes the argmax as ever (the draft is accepted when it is the argmax).
//
// Arithmetic both twins share so that they draw the same token: probabilities are f32 expf of
// (x - max) / temperature; masses are summed in f64; the draw walks ids in ascending order in
// kSamplingChunks contiguous chunks, comparing u x total mass with an f64 running sum.
#pragma once

#include <cstdint>
#include <span>

namespace kiln {

inline constexpr int kMaxSampledTopLogprobs = 20;  // vLLM's max_logprobs default
inline constexpr int kSamplingChunks = 1024;       // the CUDA kernel's threads per row
inline constexpr int32_t kNoAllowedToken = -1;     // a masked row's token when nothing is allowed

// 32-bit words of one row of token bitmask for `vocab` ids.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline constexpr int sampling_bitmask_words(int vocab) { return (vocab + 31) / 32; }

struct SamplingRowParams {
  int32_t logits_row = 0;  // row of the logits matrix this row samples from
  int32_t greedy = 1;      // argmax of the adjusted logits; the fields below are then unused
  float temperature = 1.0f;
  int32_t top_k = 0;  // <= 0 or >= vocab: off
  float top_p = 1.0f;
  float min_p = 0.0f;
  uint64_t seed = 0;
  uint64_t counter = 0;  // the sequence's output position: (seed, counter) keys the draw
  // Top logprobs of the raw logits to return with the sampled token's; -1: no logprobs at all.
  int32_t num_top_logprobs = -1;
  // This row's entries of the adjustments array: [adjustments_begin, + num_adjustments).
  int32_t adjustments_begin = 0;
  int32_t num_adjustments = 0;
  // Row of the bitmasks array holding this row's allowed tokens; -1: no mask.
  int32_t bitmask_row = -1;
  // Speculative decoding: the drafted token this row verifies (see above); -1: none.
  int32_t draft_token_id = -1;
};

// One token's change to its logit, applied in the sampler's order: blocked (-inf), + bias,
// repetition penalty (divide a positive logit, multiply a negative one), - subtract (frequency x
// count + presence). A token appears at most once per row.
struct LogitAdjustment {
  int32_t token_id = 0;
  int32_t blocked = 0;
  float bias = 0.0f;
  float repetition_penalty = 1.0f;
  float subtract = 0.0f;
};

struct SampledRow {
  int32_t token_id = 0;  // kNoAllowedToken: a masked row with nothing allowed (no logprobs then)
  // When num_top_logprobs >= 0: log_softmax of the raw logits at token_id, its rank (1 + the
  // number of tokens with a strictly greater logit), and the best num_top ids (ties by lower id).
  float logprob = 0.0f;
  int32_t rank = 0;
  int32_t num_top = 0;
  int32_t top_ids[kMaxSampledTopLogprobs] = {};
  float top_logprobs[kMaxSampledTopLogprobs] = {};
};

// The uniform double in [0, 1) the draw uses; identical on host and device.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline uint64_t sampling_splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

#if defined(__CUDACC__)
__host__ __device__
#endif
inline double sampling_draw_uniform(uint64_t seed, uint64_t counter) {
  const uint64_t bits = sampling_splitmix64(sampling_splitmix64(seed) ^
                                            sampling_splitmix64(counter + 0x5851f42d4c957f2dULL));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

namespace cpu {

// logits: [num_logits_rows, vocab] f32 (the model's raw logits); one SampledRow per params row.
// bitmasks: [num_bitmask_rows, sampling_bitmask_words(vocab)], read by rows with bitmask_row >= 0.
void sample_rows(const float* logits, int vocab, std::span<const SamplingRowParams> params,
                 std::span<const LogitAdjustment> adjustments, SampledRow* out,
                 const uint32_t* bitmasks = nullptr);

// Feeds a step the tokens the previous step sampled: token_ids[t] = sampled[token_source[t]]
// .token_id where token_source[t] >= 0; other tokens are left as they are. The caller checks
// that every source indexes `sampled`. The CUDA twin (kernels/cuda/sampling_cuda.h) reads the
// previous step's samples where the device left them, so a decode needs no round trip.
void take_sampled_tokens(const int32_t* token_source /*[num_tokens]*/, const SampledRow* sampled,
                         int num_tokens, int32_t* token_ids /*[num_tokens]*/);

}  // namespace cpu
}  // namespace kiln
