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

// As paged_attention (ops_cuda.h), same arguments and workspace. Correct for any query token
// (each sees keys 0..its position), fast when each sequence has one new token. decode_only:
// only the tokens of sequences with one new token are computed (the others' outputs are left
// alone, for the prefill kernel of a mixed step), without splitting the key range.
void decode_attention(const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
                      const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                      __nv_bfloat16* out, void* workspace, int num_sms, cudaStream_t stream, int q_token_stride,
                      bool decode_only = false);

}  // namespace kiln::cuda
