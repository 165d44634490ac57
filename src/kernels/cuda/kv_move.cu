// The KV-move op (the CPU twin: cpu::move_kv): speculative decoding's accepted draft-tree nodes
// copied to their sequence's consecutive slots, K and V of one layer in one launch. Each thread
// owns one 16-byte (or 1-byte, for rows that are not a multiple of 16 bytes) column of the rows
// and walks the moves in order; since no move reads a slot an earlier one wrote (the batch check
// guarantees it), the result does not depend on how threads interleave.
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ops_cuda.h"

namespace kiln::cuda {
namespace {

template <typename Word>
__global__ void move_kv_kernel(Word* __restrict__ k_cache, Word* __restrict__ v_cache, int64_t row_words,
                               const int64_t* __restrict__ from, const int64_t* __restrict__ to, int num_moves) {
  Word* cache = blockIdx.y == 0 ? k_cache : v_cache;
  const int64_t column = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (column >= row_words) return;
  for (int i = 0; i < num_moves; ++i) cache[to[i] * row_words + column] = cache[from[i] * row_words + column];
}

}  // namespace

void move_kv(void* k_cache, void* v_cache, int64_t row_bytes, const int64_t* from, const int64_t* to, int num_moves,
             cudaStream_t stream) {
  if (num_moves == 0 || row_bytes == 0) return;
  constexpr int kThreads = 128;
  if (row_bytes % 16 == 0) {
    const int64_t words = row_bytes / 16;
    move_kv_kernel<<<dim3(static_cast<unsigned>((words + kThreads - 1) / kThreads), 2), kThreads, 0, stream>>>(
        static_cast<uint4*>(k_cache), static_cast<uint4*>(v_cache), words, from, to, num_moves);
  } else {
    move_kv_kernel<<<dim3(static_cast<unsigned>((row_bytes + kThreads - 1) / kThreads), 2), kThreads, 0, stream>>>(
        static_cast<uint8_t*>(k_cache), static_cast<uint8_t*>(v_cache), row_bytes, from, to, num_moves);
  }
  KILN_CUDA_CHECK_LAUNCH();
}

}  // namespace kiln::cuda
