// Programmatic dependent launch (Hopper and later): a kernel launched with
// launch_with_grid_dependency may start while the kernel before it on the stream is finishing.
// Its blocks do what does not depend on that kernel — a linear layer requests its weights — then
// grid_dependency_wait() blocks until the previous kernel has completed and its writes are
// visible. Each such kernel calls grid_dependency_launch_dependents() once it is past its wait,
// so the next kernel's blocks can be scheduled into the SMs this one frees.
//
// At batch 1 a decode step is ~280 dependent kernels; without this each boundary leaves the GPU
// draining and refilling. Every kernel launched this way must call grid_dependency_wait()
// before it reads anything an earlier kernel writes, or writes anything an earlier kernel reads.
// Step inputs — the arrays CudaModel::upload_batch copies from the host before a step's first
// kernel (token ids, positions, slots, query starts, sequence lengths, block tables), which no
// kernel writes — may be read before the wait: the copies complete before the step's first
// kernel starts, and every later kernel starts after it.
// Before sm_90 both device calls compile to nothing and launches carry no attribute.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/grid_dependency.h"

namespace kiln::cuda {

__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void grid_dependency_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}


template <typename... KernelParams, typename... Args>
void launch_with_grid_dependency(void (*kernel)(KernelParams...), dim3 grid, dim3 block, size_t shared_bytes,
                                 cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute = {};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = grid_dependency_launches() ? 1 : 0;
  KILN_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace kiln::cuda
