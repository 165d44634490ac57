// Decode attention over the paged KV cache: the split-KV (flash-decoding) kernel for steps whose
// sequences each bring one new token. The CPU twin is cpu::paged_attention (kernels/ops.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/ops.h"

namespace kiln::cuda {

// Whether decode_attention has a kernel for this shape (head_dim 64/128, query heads per KV
// head 1, 2, 4 or 8).
bool decode_attention_supports(const AttentionShape& shape);

// How decode_attention splits the key range and pipelines its tiles. The defaults are
// production's (bench/cuda/NOTES.md, "Streamed decode attention"); other values are for
// bench/cuda/kernel_lab to compare.
struct DecodeAttentionTuning {
  int stages = 3;                // tiles in shared memory, all but one in flight: 3 or 4
  int target_waves = 1;          // split while the grid fits this many waves of resident blocks
  int target_blocks_per_sm = 0;  // > 0: instead, split up to this many blocks per SM
  int min_keys_per_split = 256;
  // Used instead of min_keys_per_split where that would leave fewer blocks than half the SMs
  // (short context at batch 1: 1k takes 9.5 us per layer with 64, 10.2 with 128).
  int short_context_min_keys_per_split = 64;
  int max_splits = 128;
};

// As paged_attention (ops_cuda.h), same arguments and workspace. Correct for any query token
// (each sees keys 0..its position), fast when each sequence has one new token. decode_only:
// only the tokens of sequences with one new token are computed (the others' outputs are left
// alone, for the prefill kernel of a mixed step), without splitting the key range.
void decode_attention(const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
                      const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                      __nv_bfloat16* out, void* workspace, int num_sms, cudaStream_t stream, int q_token_stride,
                      bool decode_only = false);

// decode_attention over an FP8 cache (kernels/ops.h's Fp8KvCacheLayer, scales on the device):
// the tiles move half the bytes and the scales are applied to the scores and the output.
void decode_attention(const __nv_bfloat16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                      const AttentionShape& shape, float scale, __nv_bfloat16* out, void* workspace, int num_sms,
                      cudaStream_t stream, int q_token_stride, bool decode_only = false,
                      const DecodeAttentionTuning& tuning = DecodeAttentionTuning{});

// How many splits of the key range a decode kernel whose blocks fit resident_blocks_per_sm per SM
// gets (before rounding each split to whole tiles); decode_attention_mma.cu shares it.
int decode_attention_splits(int resident_blocks_per_sm, const PagedAttentionMetadata& meta,
                            const AttentionShape& shape, int num_sms, bool decode_only,
                            const DecodeAttentionTuning& tuning);

// decode_attention with another tuning (always the CUDA-core kernel, for bench/cuda/kernel_lab).
void decode_attention_tuned(const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
                            const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                            __nv_bfloat16* out, void* workspace, int num_sms, cudaStream_t stream, int q_token_stride,
                            bool decode_only, const DecodeAttentionTuning& tuning);

}  // namespace kiln::cuda
