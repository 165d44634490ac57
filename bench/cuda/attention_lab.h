// The kernel lab's attention cases (attention_lab.cc).
#pragma once

#include "kernels/cuda/cuda_context.h"

namespace kiln::cuda {

// Times prefill attention at the 8B model's shape (32 heads, 8 KV heads, head_dim 128) for
// prompts of 1k, 8k and 32k tokens: every prefill tiling and the split-KV kernel, in ms and
// TFLOP/s (causal FLOPs = 4 * heads * head_dim * sum over queries of keys seen); a chunk of
// chunked prefill; a mixed batch of one prefill and 64 decodes through paged_attention's
// dispatch against the split-KV kernel alone. Returns the process exit code.
int run_attention_lab(CudaContext& context, bool quick);

// Times decode attention (one new token per sequence, each sequence on its own pages) at batch
// 1 with 1k, 8k and 32k context and at larger batches, for each DecodeAttentionTuning in the
// list, in us per call and GB/s of K/V read, checked against the production tuning's output.
void run_decode_lab(CudaContext& context);

}  // namespace kiln::cuda
