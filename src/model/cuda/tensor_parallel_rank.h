// What one GPU of a tensor-parallel group hands its CudaModel: its rank and the group's
// collectives, behind an interface so that the same model code runs over NCCL and the custom
// all-reduce (GPUs of one host) or, in tests, over ranks sharing one GPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "dist/cuda/custom_all_reduce.h"
#include "dist/cuda/nccl_communicator.h"
#include "dist/startup_barrier.h"

namespace kiln::cuda {

// One rank's collectives, stream-ordered. Every rank of the group calls them with the same sizes
// in the same order.
class RankCollectives {
 public:
  virtual ~RankCollectives() = default;
  // In place: data = the ranks' data summed.
  virtual void all_reduce(__nv_bfloat16* data, size_t count, cudaStream_t stream) = 0;
  // recv[r * count + i] = rank r's send[i].
  virtual void all_gather(const __nv_bfloat16* send, size_t count, __nv_bfloat16* recv, cudaStream_t stream) = 0;
  // Every rank's `data` becomes rank `root`'s bytes.
  virtual void broadcast(void* data, size_t bytes, int root, cudaStream_t stream) = 0;
  // Whether CUDA graphs may capture the calls; when not, the model runs every step eagerly.
  virtual bool capturable() const = 0;
};

// GPUs of one host: all-reduces take the custom all-reduce (peer access, one or two shots) while
// the message fits its buffer, NCCL above; the choice depends on the size only, so every rank
// makes the same one. All-gathers and broadcasts go through NCCL.
class DeviceCollectives final : public RankCollectives {
 public:
  // nccl: required; custom: null when the GPUs have no peer access (NCCL does every all-reduce).
  DeviceCollectives(dist::NcclCommunicator* nccl, dist::CustomAllReduce* custom) : nccl_(nccl), custom_(custom) {}

  void all_reduce(__nv_bfloat16* data, size_t count, cudaStream_t stream) override {
    if (custom_ != nullptr && custom_->fits(count)) {
      custom_->all_reduce(data, data, count, stream);
    } else {
      nccl_->all_reduce_sum(data, count, stream);
    }
  }
  void all_gather(const __nv_bfloat16* send, size_t count, __nv_bfloat16* recv, cudaStream_t stream) override {
    nccl_->all_gather(send, count, recv, stream);
  }
  void broadcast(void* data, size_t bytes, int root, cudaStream_t stream) override {
    nccl_->broadcast(data, bytes, root, stream);
  }
  bool capturable() const override { return true; }

 private:
  dist::NcclCommunicator* nccl_;
  dist::CustomAllReduce* custom_;
};

struct TensorParallelRank {
  int rank = 0;
  int size = 1;
  RankCollectives* collectives = nullptr;  // required
  // Met by every rank before its first collective (the memory plan's profile forward), so that
  // a rank failing to start stops the others; null: no such meeting.
  dist::StartupBarrier* startup = nullptr;
};

}  // namespace kiln::cuda
