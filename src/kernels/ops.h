// The model's operators, one declaration each. kiln::cpu holds the reference implementations
// (src/kernels/cpu/); the CUDA launchers (kiln::cuda, src/kernels/cuda/) take the same arguments
// with a cudaStream_t in place of the CpuContext, and their parity tests call both.
//
// Conventions shared by both backends:
// - Activations are dense row-major f32 buffers passed as raw pointers with explicit sizes (device
//   pointers on CUDA). Weights are TensorViews with Hugging Face's shapes (out_features first) in
//   bf16, f16 or f32, converted to f32 on the fly: they are never copied or widened in memory.
// - Paged KV cache per layer: K and V each [num_blocks, block_size, num_kv_heads, head_dim] f32;
//   token slot s lives at row s of the flattened [num_blocks * block_size, num_kv_heads, head_dim].
// - Every output element is computed with the same arithmetic in the same order whatever the
//   number of rows, the rest of the batch or the number of threads (batch invariance).
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_context.h"
#include "tensor/tensor_view.h"

namespace kiln {

// The step's sequences as paged attention sees them; the fields mirror ForwardBatch's
// (model/forward_batch.h). Each sequence's new tokens are the last ones of the sequence:
// new token j of sequence s has position seq_lens[s] - num_new + j and sees keys 0..position.
struct PagedAttentionMetadata {
  const int32_t* query_start = nullptr;   // [num_seqs + 1] offsets into the step's tokens
  const int32_t* seq_lens = nullptr;      // [num_seqs] tokens in the cache after this step
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq], -1 padded
  int num_seqs = 0;
  int max_blocks_per_seq = 0;
  int block_size = 0;
  // Host-side sizes, so a device launcher can size its grid and scratch without reading the
  // arrays above (device memory on CUDA).
  int num_tokens = 0;   // query_start[num_seqs]
  int max_seq_len = 0;  // max of seq_lens
  // Most new tokens of any sequence (1 = every sequence decodes one token). 0 = unknown, read
  // as possibly more than 1. Lets the CUDA launcher pick its decode and prefill kernels.
  int max_query_len = 0;
  // Speculative draft trees: [num_tokens] or null (every sequence's new tokens causal, as above).
  // Per token, the index within its sequence's new tokens of its parent (-1 for the first): new
  // token j then sees the cached prefix (keys 0..seq_len - num_new - 1) and the new tokens on its
  // path from the first new token to itself, in that order (ForwardBatch::tree_parents). A chain
  // (parent j - 1) sees exactly the causal keys, in the same order, so it gives the same bits.
  const int32_t* tree_parents = nullptr;
};

struct AttentionShape {
  int num_heads = 0;
  int num_kv_heads = 0;  // divides num_heads; 1 for MQA
  int head_dim = 0;
};

// One layer of an FP8 paged KV cache (--kv-cache-dtype fp8, vLLM's fp8_e4m3): K and V as E4M3
// codes, one byte per element in the layout above, dequantized as fp8_e4m3_to_f32(code) x scale
// with one scale per tensor and layer. The scales sit beside the cache (host memory for the CPU
// ops, device memory for the CUDA ones): written by a write that calculates them, read by every
// other op. A write that clips a value beyond +-448 x scale sets *saturated when it is not null.
struct Fp8KvCacheLayer {
  uint8_t* k = nullptr;
  uint8_t* v = nullptr;
  float* k_scale = nullptr;      // [1]
  float* v_scale = nullptr;      // [1]
  int32_t* saturated = nullptr;  // [1] or null
};

// vLLM's --calculate-kv-scales: the scales of a layer come from the first prompt batch's rotated
// keys and values, k_scale = max|k| / kKvScaleKRange and v_scale = max|v| / kKvScaleVRange
// (vLLM's K_SCALE_CONSTANT and V_SCALE_CONSTANT, leaving headroom below 448 for later tokens).
inline constexpr float kKvScaleKRange = 200.0f;
inline constexpr float kKvScaleVRange = 100.0f;

namespace cpu {

// out[t, :] = table[token_ids[t], :] as f32. table: [vocab, hidden].
void embedding(const CpuContext& ctx, const TensorView& table, const int32_t* token_ids,
               int num_tokens, float* out /*[num_tokens, hidden]*/);

// Tensor parallelism's vocab-parallel embedding: `table` holds the vocabulary rows [vocab_begin,
// vocab_begin + table rows) of one rank; out[t, :] is token_ids[t]'s row when the rank holds it and
// zeros otherwise, so the sum over the ranks (an all-reduce) is the whole embedding.
void embedding_shard(const CpuContext& ctx, const TensorView& table, int vocab_begin, const int32_t* token_ids,
                     int num_tokens, float* out /*[num_tokens, hidden]*/);

// HF's LlamaRMSNorm in f32: out = x * rsqrt(mean(x^2) + eps) * weight. weight: [hidden].
// out may equal x.
void rms_norm(const CpuContext& ctx, const float* x /*[num_rows, hidden]*/,
              const TensorView& weight, int num_rows, int hidden, float eps,
              float* out /*[num_rows, hidden]*/);

// The residual stream step between sub-layers: residual += x, then out = rms_norm(residual).
void add_rms_norm(const CpuContext& ctx, float* residual /*[num_rows, hidden], in/out*/,
                  const float* x /*[num_rows, hidden]*/, const TensorView& weight, int num_rows,
                  int hidden, float eps, float* out /*[num_rows, hidden]*/);

// y = x . W^T (+ bias): x [m, k] f32, W [n, k] bf16/f16/f32, bias [n] of any of those dtypes or
// empty, y [m, n] f32. Every y element is one dot product over k in a fixed order, so a row's
// result does not depend on m. Also the lm_head (logits).
void matmul(const CpuContext& ctx, const float* x, int m, int k, const TensorView& weight,
            const TensorView& bias, float* y);

// Rotates q and k of each new token by its position (HF's rotate_half convention: pairs (i,
// i + head_dim/2)), writes q back in place and k, v into the paged cache at slot_mapping[t].
// cos_sin: [max_position, head_dim] f32, row p = cos(p * inv_freq[i]) for i < head_dim/2 then
// sin(p * inv_freq[i]) (vLLM's cos_sin_cache layout); the rope type (default, linear, llama3,
// yarn) is entirely in this table. A slot of -1 is skipped (a padding token).
void rope_and_cache_kv(const CpuContext& ctx, float* q /*[num_tokens, num_heads, head_dim]*/,
                       const float* k /*[num_tokens, num_kv_heads, head_dim]*/,
                       const float* v /*[num_tokens, num_kv_heads, head_dim]*/,
                       const int32_t* positions /*[num_tokens]*/,
                       const int64_t* slot_mapping /*[num_tokens]*/, int num_tokens,
                       const AttentionShape& shape, const float* cos_sin, int max_position,
                       float* k_cache, float* v_cache);

// As above into an FP8 cache: each value is divided by its tensor's scale and rounded to E4M3
// (f32_to_fp8_e4m3: nearest even, clipped to +-448). With calculate_scales the layer's scales are
// first set from this step's rotated keys and values (kKvScaleKRange, kKvScaleVRange; a tensor
// whose values are all zero gets scale 1).
void rope_and_cache_kv(const CpuContext& ctx, float* q, const float* k, const float* v, const int32_t* positions,
                       const int64_t* slot_mapping, int num_tokens, const AttentionShape& shape, const float* cos_sin,
                       int max_position, const Fp8KvCacheLayer& cache, bool calculate_scales);

// Attention of the step's queries over the paged cache (which already holds this step's K/V):
// causal within the new tokens (or along each draft tree's paths: meta.tree_parents), full over
// the cached prefix, GQA/MQA (the query heads of a KV
// group are computed together), softmax in f32 with the running-max trick, scale given by the
// caller (1/sqrt(head_dim) for Llama/Qwen2).
void paged_attention(const CpuContext& ctx, const float* q /*[num_tokens, num_heads, head_dim]*/,
                     const float* k_cache, const float* v_cache, const PagedAttentionMetadata& meta,
                     const AttentionShape& shape, float scale,
                     float* out /*[num_tokens, num_heads, head_dim]*/);

// As above over an FP8 cache, keys and values dequantized with the layer's scales.
void paged_attention(const CpuContext& ctx, const float* q, const Fp8KvCacheLayer& cache,
                     const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale, float* out);

// Copies the K/V entries of slot from[i] to slot to[i], for i in order, in one layer's K and V
// caches of `row_bytes` bytes per slot (num_kv_heads x head_dim elements of the cache's dtype, f32
// or FP8 codes: the entries are moved, not converted). Speculative decoding moves the accepted
// nodes of a draft tree to their sequence's consecutive slots this way (ForwardBatch::kv_move_*);
// no move may read a slot an earlier one wrote.
void move_kv(const CpuContext& ctx, void* k_cache, void* v_cache, int64_t row_bytes, const int64_t* from,
             const int64_t* to, int num_moves);

// SwiGLU: out[r, i] = silu(gate[r, i]) * up[r, i], with gate and up rows `stride` floats apart:
// separate [m, inter] buffers (stride = inter) or halves of one [m, 2 * inter] gate|up buffer
// (up = gate + inter, stride = 2 * inter).
void silu_and_mul(const CpuContext& ctx, const float* gate, const float* up, int m, int inter,
                  int stride, float* out /*[m, inter]*/);

}  // namespace cpu
}  // namespace kiln
