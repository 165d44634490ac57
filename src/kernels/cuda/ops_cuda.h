// CUDA launchers of the model's operators: the twins of kiln::cpu's (kernels/ops.h), with the
// same arguments except that activations, weights and the KV cache are bf16 device pointers and
// a stream replaces the CpuContext. Arithmetic follows HF transformers' bf16 model: values are
// rounded to bf16 where HF rounds them (after each norm, residual add, rotary product and
// activation) and reductions run in f32.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/ops.h"

namespace kiln::cuda {

using bf16 = __nv_bfloat16;

// out[t, :] = table[token_ids[t], :]. Ids outside [0, vocab) read row 0 (the engine validates
// ids before they reach a step; the clamp keeps a bad id from reading out of bounds).
void embedding(const bf16* table /*[vocab, hidden]*/, int vocab, const int32_t* token_ids,
               int num_tokens, int hidden, bf16* out /*[num_tokens, hidden]*/, cudaStream_t stream);

// Tensor parallelism's vocab-parallel embedding: `table` holds the vocabulary rows [vocab_begin,
// vocab_begin + vocab_rows); out[t, :] is token_ids[t]'s row when it is one of them, else zeros.
// hidden: a multiple of 8.
void embedding_shard(const bf16* table /*[vocab_rows, hidden]*/, int vocab_begin, int vocab_rows,
                     const int32_t* token_ids, int num_tokens, int hidden, bf16* out /*[num_tokens, hidden]*/,
                     cudaStream_t stream);

// out = bf16(bf16(x * rsqrt(mean(x^2) + eps)) * weight), as LlamaRMSNorm. out may equal x.
void rms_norm(const bf16* x /*[num_rows, hidden]*/, const bf16* weight /*[hidden]*/, int num_rows,
              int hidden, float eps, bf16* out, cudaStream_t stream);

// residual = bf16(residual + x); out = rms_norm(residual).
void add_rms_norm(bf16* residual /*[num_rows, hidden]*/, const bf16* x /*[num_rows, hidden]*/,
                  const bf16* weight, int num_rows, int hidden, float eps, bf16* out,
                  cudaStream_t stream);

// As cpu::rope_and_cache_kv into an FP8 cache (the scales in device memory, calculated first
// from this step's keys and values when calculate_scales): every value is divided by its tensor's
// scale and rounded to E4M3 exactly as f32_to_fp8_e4m3 (tensor/dtype.h) rounds the same float.
void rope_and_cache_kv(bf16* q, const bf16* k, const bf16* v, const int32_t* positions, const int64_t* slot_mapping,
                       int num_tokens, const AttentionShape& shape, const float* cos_sin, int max_position,
                       const Fp8KvCacheLayer& cache, bool calculate_scales, cudaStream_t stream,
                       int token_stride = 0);

// As cpu::rope_and_cache_kv: q rotated in place; k rotated and v copied into the paged caches at
// slot_mapping[t] (-1 skips). cos_sin: [max_position, head_dim] f32 on the device, rounded to
// bf16 before use as HF does (cos.to(dtype)). token_stride: elements from one token's q (and k,
// v) to the next; 0 means packed. The model passes the fused QKV row width so that q, k and v
// are read in place from the QKV projection's output.
void rope_and_cache_kv(bf16* q /*[num_tokens, num_heads, head_dim]*/,
                       const bf16* k /*[num_tokens, num_kv_heads, head_dim]*/,
                       const bf16* v /*[num_tokens, num_kv_heads, head_dim]*/,
                       const int32_t* positions, const int64_t* slot_mapping, int num_tokens,
                       const AttentionShape& shape, const float* cos_sin, int max_position,
                       bf16* k_cache, bf16* v_cache, cudaStream_t stream, int token_stride = 0);

// As cpu::move_kv: K/V rows of `row_bytes` bytes (bf16 or FP8 codes, copied as bytes) from slot
// from[i] to slot to[i] of one layer's caches; from and to are device arrays of num_moves slots.
void move_kv(void* k_cache, void* v_cache, int64_t row_bytes, const int64_t* from, const int64_t* to, int num_moves,
             cudaStream_t stream);

// out = bf16(bf16(silu(gate)) * up); gate and up rows `stride` elements apart.
void silu_and_mul(const bf16* gate, const bf16* up, int m, int inter, int stride,
                  bf16* out /*[m, inter]*/, cudaStream_t stream);

}  // namespace kiln::cuda

namespace kiln::cuda {

// Bytes of scratch paged_attention needs for split-KV partial results on a device with
// `num_sms` multiprocessors (independent of sequence lengths).
size_t paged_attention_workspace_bytes(int num_sms, const AttentionShape& shape);

// As cpu::paged_attention, with bf16 q/caches/out (f32 softmax and accumulation). Metadata
// arrays are device pointers. Dispatch on the host-side meta.max_query_len: a step of decodes
// only (1) runs decode_attention (decode_attention.h) over every token, or split_kv_attention
// for group sizes it lacks; otherwise prefill_attention runs the sequences with several new
// tokens and split_kv_attention (decode_only) the single-token ones.
// workspace: paged_attention_workspace_bytes(num_sms, shape).
void paged_attention(const bf16* q /*[num_tokens, num_heads, head_dim]*/, const bf16* k_cache,
                     const bf16* v_cache, const PagedAttentionMetadata& meta,
                     const AttentionShape& shape, float scale,
                     bf16* out /*[num_tokens, num_heads, head_dim]*/, void* workspace,
                     int num_sms, cudaStream_t stream, int q_token_stride = 0);

// The first split-KV (flash-decoding) kernel: one block per query token and KV head (group), no
// tensor cores; its host-side max_seq_len decides how many splits of the KV range run in
// parallel so that small batches of long sequences still fill the GPU. Correct for any query
// lengths; paged_attention uses it for the decode tokens of mixed steps. decode_only: compute only the sequences with exactly one new token (one block row
// per sequence) and leave the other tokens' outputs untouched.
void split_kv_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache,
                        const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                        bf16* out, void* workspace, int num_sms, cudaStream_t stream,
                        int q_token_stride, bool decode_only);

// The attention kernels over an FP8 cache (ops.h's Fp8KvCacheLayer; codes and scales on the
// device): the same dispatch and arguments with the layer's cache in place of the bf16 K and V.
// Keys and values are dequantized where they are read (code x scale, the scales folded into the
// scores' scale and the output).
void paged_attention(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                     const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                     cudaStream_t stream, int q_token_stride = 0);
void split_kv_attention(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                        const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                        cudaStream_t stream, int q_token_stride, bool decode_only);

// Tile shapes of prefill_attention for head_dim 128 (rows = query token x head-in-group pairs
// per block, keys per K/V tile); kernel_lab times each, kDefault is the fastest measured.
enum class PrefillTiling {
  kDefault,
  kWarps4Rows64Keys64,
  kWarps4Rows128Keys32,
  kWarps4Rows128Keys64,
  kWarps8Rows128Keys64,
  kWarps4Rows128Keys32QRegs,  // Q's fragments kept in registers instead of re-read per tile
};

// Whether prefill_attention runs this shape: head_dim 64 or 128 and a GQA group no larger than
// the tiling's rows per block.
bool prefill_attention_supports(const AttentionShape& shape, PrefillTiling tiling = PrefillTiling::kDefault);

// Causal attention of the sequences with more than one new token (prefill, chunked prefill over
// a cached prefix) on tensor cores, FlashAttention-2 style; sequences with one new token are
// skipped (their outputs untouched). The grid is sized by meta.max_query_len (num_tokens when
// 0). Same arguments and layouts as paged_attention.
void prefill_attention(const bf16* q /*[num_tokens, num_heads, head_dim]*/, const bf16* k_cache,
                       const bf16* v_cache, const PagedAttentionMetadata& meta,
                       const AttentionShape& shape, float scale,
                       bf16* out /*[num_tokens, num_heads, head_dim]*/, cudaStream_t stream,
                       int q_token_stride = 0, PrefillTiling tiling = PrefillTiling::kDefault);

// prefill_attention over an FP8 cache. The tiles still arrive with cp.async (as codes, half the
// bytes), double-buffered; each is widened to bf16 in shared memory once it has landed (E4M3
// values are exact in bf16), and the scales join the softmax scale and the output.
void prefill_attention(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                       const AttentionShape& shape, float scale, bf16* out, cudaStream_t stream,
                       int q_token_stride = 0, PrefillTiling tiling = PrefillTiling::kDefault);

}  // namespace kiln::cuda
