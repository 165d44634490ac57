// Tensor parallelism's vocab-parallel embedding (the CPU twin: cpu::embedding_shard): a rank's
// rows of the table, zeros for the tokens another rank holds; the all-reduce that follows sums
// the ranks' rows into the whole embedding.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace kiln::cuda {
namespace {

__global__ void embedding_shard_kernel(const bf16* __restrict__ table, int vocab_begin, int vocab_rows,
                                       const int32_t* __restrict__ token_ids, int hidden, bf16* __restrict__ out) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  const int token = blockIdx.x;
  const int id = token_ids[token] - vocab_begin;
  uint4* target = reinterpret_cast<uint4*>(out + static_cast<size_t>(token) * hidden);
  if (id < 0 || id >= vocab_rows) {
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) target[i] = make_uint4(0, 0, 0, 0);
    return;
  }
  const uint4* source = reinterpret_cast<const uint4*>(table + static_cast<size_t>(id) * hidden);
  for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) target[i] = source[i];
}

}  // namespace

void embedding_shard(const bf16* table, int vocab_begin, int vocab_rows, const int32_t* token_ids, int num_tokens,
                     int hidden, bf16* out, cudaStream_t stream) {
  if (num_tokens == 0) return;
  launch_with_grid_dependency(embedding_shard_kernel, dim3(num_tokens), dim3(128), 0, stream, table, vocab_begin,
                              vocab_rows, token_ids, hidden, out);
  KILN_CUDA_CHECK_LAUNCH();
}

}  // namespace kiln::cuda
