// What one GPU of a tensor-parallel group hands its CudaModel: its rank and the group's
// collectives. The all-reduces after the embedding, o_proj and down_proj take the custom
// all-reduce (peer access, one or two shots) while the message fits its buffer, NCCL above; the
// choice depends on the size only, so every rank makes the same one.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "dist/cuda/custom_all_reduce.h"
#include "dist/cuda/nccl_communicator.h"

namespace kiln::cuda {

struct TensorParallelRank {
  int rank = 0;
  int size = 1;
  dist::NcclCommunicator* nccl = nullptr;   // required
  dist::CustomAllReduce* custom = nullptr;  // null: NCCL does every all-reduce (no peer access)

  // In place, stream-ordered (and captured into graphs).
  void all_reduce(__nv_bfloat16* data, size_t count, cudaStream_t stream) const {
    if (custom != nullptr && custom->fits(count)) {
      custom->all_reduce(data, data, count, stream);
    } else {
      nccl->all_reduce_sum(data, count, stream);
    }
  }
};

}  // namespace kiln::cuda
