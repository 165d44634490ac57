// The CUDA launcher of the sampling operator (kernels/sampling.h; CPU twin cpu::sample_rows):
// one block per row, so only token ids and the requested logprobs leave the device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/sampling.h"

namespace kiln::cuda {

// f32 scratch the kernel needs for `max_rows` rows of `vocab` logits.
size_t sampling_workspace_bytes(int max_rows, int vocab);

// logits: [*, vocab] bf16 on the device, rows addressed by params[r].logits_row - row_offset.
// params [num_rows], adjustments, out [num_rows] and bitmasks ([*, sampling_bitmask_words(vocab)],
// read by rows with bitmask_row >= 0; may be null when no row has one) are device pointers.
void sample_rows(const __nv_bfloat16* logits, int vocab, int row_offset, const SamplingRowParams* params,
                 int num_rows, const LogitAdjustment* adjustments, float* workspace, SampledRow* out,
                 cudaStream_t stream, const uint32_t* bitmasks = nullptr);

// As cpu::take_sampled_tokens, all pointers on the device. Launched with programmatic dependent
// launch: it waits for the previous kernel (the previous step's sampling) before reading.
void take_sampled_tokens(const int32_t* token_source, const SampledRow* sampled, int num_tokens,
                         int32_t* token_ids, cudaStream_t stream);

}  // namespace kiln::cuda
