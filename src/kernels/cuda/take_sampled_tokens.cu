// The device twin of cpu::take_sampled_tokens: a step's decode inputs taken from the previous
// step's samples without a round trip through the host.
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/sampling_cuda.h"

namespace kiln::cuda {
namespace {

__global__ void take_sampled_tokens_kernel(const int32_t* __restrict__ token_source,
                                           const SampledRow* __restrict__ sampled, int num_tokens,
                                           int32_t* __restrict__ token_ids) {
  grid_dependency_wait();  // the previous step's sampling wrote `sampled`
  grid_dependency_launch_dependents();
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < num_tokens && token_source[t] >= 0) token_ids[t] = sampled[token_source[t]].token_id;
}

}  // namespace

void take_sampled_tokens(const int32_t* token_source, const SampledRow* sampled, int num_tokens,
                         int32_t* token_ids, cudaStream_t stream) {
  if (num_tokens <= 0) return;
  constexpr int kThreads = 256;
  launch_with_grid_dependency(take_sampled_tokens_kernel, dim3((num_tokens + kThreads - 1) / kThreads),
                              dim3(kThreads), 0, stream, token_source, sampled, num_tokens, token_ids);
}

}  // namespace kiln::cuda
