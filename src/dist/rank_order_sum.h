// The reduction every kiln all-reduce performs, written once: element i of the result is
// inputs[0][i] + inputs[1][i] + ... + inputs[n-1][i], added left to right in f32. The CPU
// communicator runs it, and it is the CPU twin of the CUDA custom all-reduce's kernels
// (dist/cuda/custom_all_reduce.h), whose parity test compares their bits: one-shot (every rank
// sums every element) and two-shot (each rank sums its 1/n of the elements, then all gather the
// parts) give the same bits because the order of the additions is the same.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::dist {

// out[i] = sum in rank order of inputs[r][i], for i in [begin, end). `out` may be one of the inputs.
void rank_order_sum(const float* const* inputs, int num_inputs, size_t begin, size_t end, float* out);

// The same over bf16 buffers (the CUDA backend's activations): each element widened to f32, summed
// in rank order in f32, rounded to bf16 once (nearest even).
void rank_order_sum_bf16(const uint16_t* const* inputs, int num_inputs, size_t begin, size_t end, uint16_t* out);

}  // namespace kiln::dist
