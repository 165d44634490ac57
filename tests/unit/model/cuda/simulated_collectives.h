// Collectives for tensor-parallel ranks that share one GPU, so that the CUDA tensor-parallel model
// runs on a one-GPU machine (CudaTensorParallelModel::create_on_one_gpu). Each call waits for its
// rank's stream, meets the other ranks at a host barrier and moves the data with cudaMemcpy. The
// all-reduce sums in rank order in f32 and rounds to bf16 once (rank_order_sum_bf16, the CPU twin
// of the custom all-reduce), so a simulated group computes the bits that the custom all-reduce
// gives on separate GPUs for messages within its buffer. Graphs cannot capture host barriers: the
// ranks run every step eagerly (capturable() is false).
#pragma once

#include <barrier>
#include <memory>
#include <vector>

#include "dist/rank_order_sum.h"
#include "kernels/cuda/cuda_check.h"
#include "model/cuda/tensor_parallel_rank.h"

namespace kiln::cuda::testing {

class SimulatedCollectives final : public RankCollectives {
 public:
  // One per rank, sharing the group's barrier.
  static std::vector<std::unique_ptr<RankCollectives>> group(int size) {
    auto shared = std::make_shared<Shared>(size);
    std::vector<std::unique_ptr<RankCollectives>> out;
    for (int r = 0; r < size; ++r) out.push_back(std::unique_ptr<RankCollectives>(new SimulatedCollectives(shared, r)));
    return out;
  }

  void all_reduce(__nv_bfloat16* data, size_t count, cudaStream_t stream) override {
    publish(data, stream);
    const int size = shared_->size;
    std::vector<std::vector<uint16_t>> inputs(static_cast<size_t>(size), std::vector<uint16_t>(count));
    std::vector<const uint16_t*> pointers;
    for (int r = 0; r < size; ++r) {
      KILN_CUDA_CHECK(cudaMemcpy(inputs[static_cast<size_t>(r)].data(), shared_->pointers[static_cast<size_t>(r)],
                                 count * 2, cudaMemcpyDeviceToHost));
      pointers.push_back(inputs[static_cast<size_t>(r)].data());
    }
    std::vector<uint16_t> sum(count);
    dist::rank_order_sum_bf16(pointers.data(), size, 0, count, sum.data());
    shared_->barrier.arrive_and_wait();  // every rank has read every input before any is overwritten
    KILN_CUDA_CHECK(cudaMemcpy(data, sum.data(), count * 2, cudaMemcpyHostToDevice));
  }

  void all_gather(const __nv_bfloat16* send, size_t count, __nv_bfloat16* recv, cudaStream_t stream) override {
    publish(const_cast<__nv_bfloat16*>(send), stream);
    for (int r = 0; r < shared_->size; ++r) {
      KILN_CUDA_CHECK(cudaMemcpy(recv + static_cast<size_t>(r) * count, shared_->pointers[static_cast<size_t>(r)],
                                 count * 2, cudaMemcpyDeviceToDevice));
    }
    shared_->barrier.arrive_and_wait();
  }

  void broadcast(void* data, size_t bytes, int root, cudaStream_t stream) override {
    publish(data, stream);
    if (rank_ != root) {
      KILN_CUDA_CHECK(cudaMemcpy(data, shared_->pointers[static_cast<size_t>(root)], bytes, cudaMemcpyDeviceToDevice));
    }
    shared_->barrier.arrive_and_wait();
  }

  bool capturable() const override { return false; }

 private:
  struct Shared {
    explicit Shared(int n) : size(n), barrier(n), pointers(static_cast<size_t>(n), nullptr) {}
    int size;
    std::barrier<> barrier;
    std::vector<const void*> pointers;  // each rank's buffer of the current call
  };

  SimulatedCollectives(std::shared_ptr<Shared> shared, int rank) : shared_(std::move(shared)), rank_(rank) {}

  // The rank's data is ready (its stream drained) and every rank's pointer is known.
  void publish(const void* data, cudaStream_t stream) {
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
    shared_->pointers[static_cast<size_t>(rank_)] = data;
    shared_->barrier.arrive_and_wait();
  }

  std::shared_ptr<Shared> shared_;
  int rank_;
};

}  // namespace kiln::cuda::testing
