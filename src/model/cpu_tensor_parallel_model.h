// Tensor parallelism on the CPU backend: `size` CpuModels, one per rank, each over its shard of
// the weights (model/weight_sharding.h) and its own KV heads, on its own thread with its own
// share of the cores, exchanging activations through a dist::ThreadGroup. forward() has
// CpuModel's contract: rank 0 runs on the calling thread and returns the whole logits; the other
// ranks run the same batch on their threads meanwhile.
//
// It exists so that the sharding, the collectives' call sites and the engine's tensor-parallel
// path run in CI without GPUs; the logits equal the unsharded model's up to f32 rounding (the
// row-parallel sums add their parts in another order).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"
#include "dist/thread_communicator.h"
#include "model/cpu_model.h"
#include "model/weight_sharding.h"

namespace kiln {

class CpuTensorParallelModel {
 public:
  // `weights` are the whole model's (they must outlive the model); each rank's shard is cut from
  // them. options.num_threads is shared out among the ranks (at least one thread each);
  // options.num_blocks is each rank's KV cache size in blocks (the ranks hold the same blocks,
  // each for its own KV heads). Errors name the flag or field that does not split.
  static Result<std::unique_ptr<CpuTensorParallelModel>> create(const ModelConfig& config, const ModelWeights& weights,
                                                                int size, const CpuModelOptions& options);
  ~CpuTensorParallelModel();

  Status forward(const ForwardBatch& batch, std::vector<float>* logits);

  const ModelConfig& config() const { return ranks_.front()->config(); }
  int size() const { return static_cast<int>(ranks_.size()); }
  const CpuModel& rank(int r) const { return *ranks_[static_cast<size_t>(r)]; }
  int num_threads() const;  // all ranks together
  // Bytes of the column slices the ranks copied (o_proj and down_proj are not contiguous).
  int64_t copied_weight_bytes() const;

 private:
  explicit CpuTensorParallelModel(int size);
  void run_rank(int rank);

  dist::ThreadGroup group_;
  std::vector<std::unique_ptr<WeightShard>> shards_;
  std::vector<std::unique_ptr<CpuModel>> ranks_;

  // The step handed to ranks 1..size-1.
  std::mutex mutex_;
  std::condition_variable step_ready_, step_done_;
  uint64_t generation_ = 0;  // bumped per step
  int pending_ = 0;          // ranks still running the current step
  bool stopping_ = false;
  const ForwardBatch* batch_ = nullptr;
  std::vector<Status> statuses_;            // per rank
  std::vector<std::vector<float>> unused_logits_;  // ranks > 0 return none
  std::vector<std::thread> threads_;        // ranks 1..size-1
};

// KV cache bytes of one block over all ranks of a `size`-way group (the KV heads split, or
// replicated where the ranks outnumber them).
int64_t tensor_parallel_kv_bytes_per_block(const ModelConfig& config, int size, int block_size, DType kv_dtype);

}  // namespace kiln
