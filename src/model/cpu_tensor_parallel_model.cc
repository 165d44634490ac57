#include "model/cpu_tensor_parallel_model.h"

#include <algorithm>

#include "model/memory_plan.h"

namespace kiln {

Result<std::unique_ptr<CpuTensorParallelModel>> CpuTensorParallelModel::create(const ModelConfig& config,
                                                                               const ModelWeights& weights, int size,
                                                                               const CpuModelOptions& options) {
  KILN_RETURN_IF_ERROR(check_tensor_parallel(config, size));
  std::unique_ptr<CpuTensorParallelModel> model(new CpuTensorParallelModel(size));
  const int cores = options.num_threads > 0 ? options.num_threads
                                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int r = 0; r < size; ++r) {
    KILN_ASSIGN_OR_RETURN(auto shard, shard_model_weights(config, weights, shard_shape(config, r, size)));
    CpuModelOptions rank_options = options;
    rank_options.num_threads = std::max(1, cores / size);
    rank_options.communicator = model->group_.communicator(r);
    KILN_ASSIGN_OR_RETURN(auto rank_model, CpuModel::create(config, shard->weights, rank_options));
    model->shards_.push_back(std::move(shard));
    model->ranks_.push_back(std::move(rank_model));
  }
  for (int r = 1; r < size; ++r) model->threads_.emplace_back([m = model.get(), r] { m->run_rank(r); });
  return model;
}

CpuTensorParallelModel::CpuTensorParallelModel(int size)
    : group_(size), statuses_(static_cast<size_t>(size)), unused_logits_(static_cast<size_t>(size)) {}

CpuTensorParallelModel::~CpuTensorParallelModel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  step_ready_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void CpuTensorParallelModel::run_rank(int rank) {
  uint64_t seen = 0;
  for (;;) {
    const ForwardBatch* batch = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      step_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      batch = batch_;
    }
    Status status = ranks_[static_cast<size_t>(rank)]->forward(*batch, &unused_logits_[static_cast<size_t>(rank)]);
    std::lock_guard<std::mutex> lock(mutex_);
    statuses_[static_cast<size_t>(rank)] = std::move(status);
    if (--pending_ == 0) step_done_.notify_all();
  }
}

Status CpuTensorParallelModel::forward(const ForwardBatch& batch, std::vector<float>* logits) {
  // Every rank validates the batch the same way before its first collective, so a bad batch
  // fails on all of them and none waits for the others.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch_ = &batch;
    pending_ = size() - 1;
    ++generation_;
  }
  step_ready_.notify_all();
  Status status = ranks_.front()->forward(batch, logits);
  std::unique_lock<std::mutex> lock(mutex_);
  step_done_.wait(lock, [&] { return pending_ == 0; });
  batch_ = nullptr;
  for (int r = 1; r < size() && status.ok(); ++r) {
    if (!statuses_[static_cast<size_t>(r)].ok()) {
      status = Status::error("tensor-parallel rank " + std::to_string(r) + ": " + statuses_[static_cast<size_t>(r)].message());
    }
  }
  return status;
}

int CpuTensorParallelModel::num_threads() const {
  int total = 0;
  for (const auto& rank : ranks_) total += rank->num_threads();
  return total;
}

int64_t CpuTensorParallelModel::copied_weight_bytes() const {
  int64_t total = 0;
  for (const auto& shard : shards_) total += shard->copied_bytes;
  return total;
}

int64_t tensor_parallel_kv_bytes_per_block(const ModelConfig& config, int size, int block_size, DType kv_dtype) {
  int64_t total = 0;
  for (int r = 0; r < size; ++r) {
    total += kv_bytes_per_block(shard_config(config, shard_shape(config, r, size)), block_size, kv_dtype);
  }
  return total;
}

}  // namespace kiln
