// Tensor parallelism on GPUs: one CudaModel per GPU (devices 0..size-1), each over its shard of
// the weights, driven by its own thread, the ranks joined by NCCL and, where the GPUs have peer
// access, the custom all-reduce (dist/). One process holds the whole group: the engine, its
// scheduler and KV block tables exist once, a step's inputs are handed to the ranks in memory,
// and the custom all-reduce reads the other GPUs' buffers through peer access without IPC
// handles (docs/architecture.md: why threads, not processes).
//
// launch_sampled() hands the step to every rank's thread and returns once all have queued it;
// collect_sampled() waits for all and returns rank 0's samples (rank 0 gathers the logits and
// samples; the others only compute). The ranks hold the same KV blocks, each for its own heads;
// the group's plan is the smallest rank's.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "dist/cuda/custom_all_reduce.h"
#include "dist/cuda/nccl_communicator.h"
#include "model/cuda/cuda_model.h"
#include "model/cuda/tensor_parallel_rank.h"

namespace kiln::cuda {

class CudaTensorParallelModel {
 public:
  // `host_weights` are the whole checkpoint's views; each rank reads its slices of them.
  // options.device is ignored: rank r runs on GPU r. Errors name the rank and the flag or
  // tensor at fault.
  static Result<std::unique_ptr<CudaTensorParallelModel>> create(const ModelConfig& config,
                                                                 const ModelWeights& host_weights, int size,
                                                                 const CudaModelOptions& options);
  ~CudaTensorParallelModel();

  // CudaModel's contract (cuda_model.h), for the group.
  Status launch_sampled(const ForwardBatch& batch, std::span<const int32_t> token_source,
                        std::span<const SamplingRowParams> rows, std::span<const LogitAdjustment> adjustments,
                        std::span<const uint32_t> bitmasks = {});
  Status collect_sampled(std::vector<SampledRow>* sampled, std::vector<float>* other_logits);
  Status forward(const ForwardBatch& batch, std::vector<float>* logits);

  const ModelConfig& config() const { return models_.front()->config(); }
  int size() const { return static_cast<int>(models_.size()); }
  const CudaModel& rank(int r) const { return *models_[static_cast<size_t>(r)]; }
  // Rank 0's plan with the blocks every rank has room for.
  const MemoryPlan& memory_plan() const { return plan_; }
  bool uses_custom_all_reduce() const { return !custom_.empty(); }

  // Tests on one GPU: every rank on GPU 0 (its own CudaModel, stream and thread) joined by
  // `collectives` (one per rank) instead of NCCL, so the sharded forward, the rank-0 sampling
  // and the token broadcast run where no second GPU is; steps run eagerly unless the
  // collectives are capturable.
  static Result<std::unique_ptr<CudaTensorParallelModel>> create_on_one_gpu(
      const ModelConfig& config, const ModelWeights& host_weights, const CudaModelOptions& options,
      std::vector<std::unique_ptr<RankCollectives>> collectives);
  double busy_seconds() const { return models_.front()->busy_seconds(); }

 private:
  class RankThread;
  CudaTensorParallelModel() = default;
  // Runs job(r) on every rank's thread and waits for all; the first failure, naming its rank.
  Status run_on_ranks(const std::function<Status(int)>& job);
  // Shards, uploads and plans every rank once threads_, devices_ and collectives_ are set.
  Status create_ranks(const ModelConfig& config, const ModelWeights& host_weights, const CudaModelOptions& options);

  std::vector<std::unique_ptr<RankThread>> threads_;
  std::vector<std::unique_ptr<dist::NcclCommunicator>> nccl_;
  std::vector<std::unique_ptr<dist::CustomAllReduce>> custom_;
  std::vector<std::unique_ptr<RankCollectives>> collectives_;
  std::vector<int> devices_;               // rank r's GPU
  std::unique_ptr<dist::StartupBarrier> startup_;
  std::vector<TensorParallelRank> ranks_;  // what each CudaModel points to
  std::vector<std::unique_ptr<CudaModel>> models_;
  MemoryPlan plan_;
  std::vector<std::vector<SampledRow>> sampled_;       // per rank, for collect
  std::vector<std::vector<float>> other_logits_;       // per rank
};

}  // namespace kiln::cuda
