// Decode attention on the tensor cores: decode_attention (decode_attention.h) with Q K^T and P.V
// as mma.m16n8k16 products (f32 accumulation), same arguments, workspace and split-KV records.
// The CPU twin is cpu::paged_attention (kernels/ops.h), as for decode_attention. Off by default
// (KILN_CUDA_DECODE_ATTENTION_MMA=1 turns it on) until its GPU parity tests and the throughput
// benchmark have run; numerics in decode_attention_mma.cu's header.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/decode_attention.h"
#include "kernels/ops.h"

namespace kiln::cuda {

// The shapes decode_attention_mma has a kernel for: decode_attention_supports's (head_dim 64/128,
// 1, 2, 4 or 8 query heads per KV head).
bool decode_attention_mma_supports(const AttentionShape& shape);

// As decode_attention over a bf16 cache: bf16 operands. The tuning's split parameters apply (its
// stages do not: the tiles hold 64 keys, three stages).
void decode_attention_mma(const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
                          const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                          __nv_bfloat16* out, void* workspace, int num_sms, cudaStream_t stream, int q_token_stride,
                          bool decode_only = false, const DecodeAttentionTuning& tuning = DecodeAttentionTuning{});

// As decode_attention over an FP8 cache: the codes become f16 (exactly), the queries f16.
void decode_attention_mma(const __nv_bfloat16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                          const AttentionShape& shape, float scale, __nv_bfloat16* out, void* workspace, int num_sms,
                          cudaStream_t stream, int q_token_stride, bool decode_only = false,
                          const DecodeAttentionTuning& tuning = DecodeAttentionTuning{});

// Whether decode_attention runs decode_attention_mma instead of its CUDA-core kernel. Off by
// default; CudaModel applies its options' decode_attention_mma here (the CLI's
// KILN_CUDA_DECODE_ATTENTION_MMA=1). A process-wide switch, as allow_grid_dependency_launches:
// the launchers take only a stream, as their CPU twins' signatures do.
void use_decode_attention_mma(bool enabled);
bool decode_attention_mma_enabled();

}  // namespace kiln::cuda
