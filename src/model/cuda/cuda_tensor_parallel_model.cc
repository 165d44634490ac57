#include "model/cuda/cuda_tensor_parallel_model.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "base/byte_size.h"
#include "base/log.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_context.h"
#include "model/weight_sharding.h"

namespace kiln::cuda {

// One rank's thread: runs the jobs handed to it in order, with its GPU current, so that every
// CUDA and NCCL call of a rank comes from one thread (NCCL's one-thread-per-GPU model: a thread
// driving several GPUs could block on one rank's full launch queue while another waits for it).
class CudaTensorParallelModel::RankThread {
 public:
  explicit RankThread(int device) : thread_([this, device] { loop(device); }) {}
  ~RankThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_one();
    thread_.join();
  }

  std::future<Status> submit(std::function<Status()> job) {
    std::packaged_task<Status()> task(std::move(job));
    std::future<Status> result = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(task));
    }
    ready_.notify_one();
    return result;
  }

 private:
  void loop(int device) {
    KILN_CUDA_CHECK(cudaSetDevice(device));
    for (;;) {
      std::packaged_task<Status()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<Status()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

Status CudaTensorParallelModel::run_on_ranks(const std::function<Status(int)>& job) {
  std::vector<std::future<Status>> results;
  for (int r = 0; r < static_cast<int>(threads_.size()); ++r) {
    results.push_back(threads_[static_cast<size_t>(r)]->submit([&job, r] { return job(r); }));
  }
  Status first;
  for (size_t r = 0; r < results.size(); ++r) {
    Status status = results[r].get();
    if (!status.ok() && first.ok()) first = status.with_context("tensor-parallel rank " + std::to_string(r));
  }
  return first;
}

Result<std::unique_ptr<CudaTensorParallelModel>> CudaTensorParallelModel::create(const ModelConfig& config,
                                                                                 const ModelWeights& host_weights,
                                                                                 int size,
                                                                                 const CudaModelOptions& options) {
  KILN_RETURN_IF_ERROR(check_tensor_parallel(config, size));
  if (size > dist::kMaxAllReduceRanks) {
    return Status::error("--tensor-parallel-size " + std::to_string(size) + ": kiln runs up to " +
                         std::to_string(dist::kMaxAllReduceRanks) + " GPUs of one host per model");
  }
  if (device_count() < size) {
    return Status::error("--tensor-parallel-size " + std::to_string(size) + ": " + std::to_string(device_count()) +
                         " GPUs are visible (CUDA_VISIBLE_DEVICES)");
  }
  std::unique_ptr<CudaTensorParallelModel> group(new CudaTensorParallelModel());
  for (int r = 0; r < size; ++r) group->threads_.push_back(std::make_unique<RankThread>(r));
  group->nccl_.resize(static_cast<size_t>(size));

  // NCCL: every rank joins at once, each from its own thread.
  KILN_ASSIGN_OR_RETURN(const dist::NcclUniqueId id, dist::NcclCommunicator::make_unique_id());
  KILN_RETURN_IF_ERROR(group->run_on_ranks([&](int r) -> Status {
    KILN_ASSIGN_OR_RETURN(group->nccl_[static_cast<size_t>(r)], dist::NcclCommunicator::create(id, r, size, r));
    return ok_status();
  }));

  // The custom all-reduce needs every pair of GPUs to reach each other's memory.
  std::vector<int> devices;
  for (int r = 0; r < size; ++r) devices.push_back(r);
  if (dist::enable_peer_access(devices)) {
    group->custom_.resize(static_cast<size_t>(size));
    std::vector<dist::AllReducePeer> peers(static_cast<size_t>(size));
    KILN_RETURN_IF_ERROR(group->run_on_ranks([&](int r) -> Status {
      KILN_ASSIGN_OR_RETURN(group->custom_[static_cast<size_t>(r)], dist::CustomAllReduce::create(r, size));
      peers[static_cast<size_t>(r)] = group->custom_[static_cast<size_t>(r)]->self();
      return ok_status();
    }));
    for (auto& custom : group->custom_) custom->connect(peers);
    KILN_LOG(Info) << "Tensor parallel over " << size << " GPUs: custom all-reduce (peer access) up to "
                   << format_bytes(static_cast<int64_t>(dist::CustomAllReduce::kDefaultCapacityBytes))
                   << " per message, NCCL " << NCCL_MAJOR << "." << NCCL_MINOR << "." << NCCL_PATCH << " above";
  } else {
    KILN_LOG(Warning) << "Tensor parallel over " << size
                      << " GPUs without peer access between them: every all-reduce goes through NCCL";
  }
  for (int r = 0; r < size; ++r) {
    group->devices_.push_back(r);
    group->collectives_.push_back(std::make_unique<DeviceCollectives>(
        group->nccl_[static_cast<size_t>(r)].get(), group->custom_.empty() ? nullptr : group->custom_[static_cast<size_t>(r)].get()));
  }
  KILN_RETURN_IF_ERROR(group->create_ranks(config, host_weights, options));
  return group;
}

Result<std::unique_ptr<CudaTensorParallelModel>> CudaTensorParallelModel::create_on_one_gpu(
    const ModelConfig& config, const ModelWeights& host_weights, const CudaModelOptions& options,
    std::vector<std::unique_ptr<RankCollectives>> collectives) {
  const int size = static_cast<int>(collectives.size());
  KILN_RETURN_IF_ERROR(check_tensor_parallel(config, size));
  std::unique_ptr<CudaTensorParallelModel> group(new CudaTensorParallelModel());
  for (int r = 0; r < size; ++r) group->threads_.push_back(std::make_unique<RankThread>(0));
  group->devices_.assign(static_cast<size_t>(size), 0);
  group->collectives_ = std::move(collectives);
  KILN_RETURN_IF_ERROR(group->create_ranks(config, host_weights, options));
  return group;
}

Status CudaTensorParallelModel::create_ranks(const ModelConfig& config, const ModelWeights& host_weights,
                                             const CudaModelOptions& options) {
  const int size = static_cast<int>(threads_.size());
  models_.resize(static_cast<size_t>(size));
  sampled_.resize(static_cast<size_t>(size));
  other_logits_.resize(static_cast<size_t>(size));
  startup_ = std::make_unique<dist::StartupBarrier>(size);
  for (int r = 0; r < size; ++r) {
    ranks_.push_back(TensorParallelRank{r, size, collectives_[static_cast<size_t>(r)].get(), startup_.get()});
  }

  // Each rank cuts its shard from the mapped checkpoint (reading only its slices), uploads it and
  // plans its memory; the profile forward runs the collectives on all ranks together. The
  // shard's host copies (o_proj and down_proj columns) are freed once uploaded.
  // A rank failing before the first collective still meets the others at startup_, which stops
  // them too; the error returned is the first failed rank's own.
  const Status started = run_on_ranks([&](int r) -> Status {
    const auto fail = [&](const Status& status) {
      if (!startup_->has_arrived(r)) (void)startup_->arrive(r, status);
      return status;
    };
    Result<std::unique_ptr<WeightShard>> shard = shard_model_weights(config, host_weights, shard_shape(config, r, size));
    if (!shard.ok()) return fail(shard.status());
    CudaModelOptions rank_options = options;
    rank_options.device = devices_[static_cast<size_t>(r)];
    rank_options.tensor_parallel = &ranks_[static_cast<size_t>(r)];
    Result<std::unique_ptr<CudaModel>> model = CudaModel::create(config, (*shard)->weights, rank_options);
    if (!model.ok()) return fail(model.status());
    models_[static_cast<size_t>(r)] = std::move(model).value();
    return ok_status();
  });
  if (!started.ok()) return startup_->first_failure().value_or(started);

  plan_ = models_.front()->memory_plan();
  for (int r = 0; r < size; ++r) {
    const CudaModel& model = *models_[static_cast<size_t>(r)];
    const MemoryPlan& plan = model.memory_plan();
    KILN_LOG(Info) << "Rank " << r << " (GPU " << devices_[static_cast<size_t>(r)] << ", " << model.device_info().name
                   << "): weights " << format_gib(plan.weights_bytes) << ", activations "
                   << format_gib(plan.activation_bytes) << ", KV cache " << format_gib(plan.kv_cache_bytes) << " ("
                   << plan.num_blocks << " blocks)";
    plan_.num_blocks = std::min(plan_.num_blocks, plan.num_blocks);
  }
  plan_.kv_cache_bytes = plan_.num_blocks * plan_.bytes_per_block;
  return ok_status();
}

CudaTensorParallelModel::~CudaTensorParallelModel() {
  // Each rank's model and collectives go on their own thread (their GPU current), models first.
  if (threads_.empty()) return;
  Status ignored = run_on_ranks([this](int r) {
    if (r < static_cast<int>(models_.size())) models_[static_cast<size_t>(r)].reset();
    if (r < static_cast<int>(collectives_.size())) collectives_[static_cast<size_t>(r)].reset();
    if (r < static_cast<int>(custom_.size())) custom_[static_cast<size_t>(r)].reset();
    if (r < static_cast<int>(nccl_.size())) nccl_[static_cast<size_t>(r)].reset();
    return ok_status();
  });
  (void)ignored;
}

Status CudaTensorParallelModel::launch_sampled(const ForwardBatch& batch, std::span<const int32_t> token_source,
                                               std::span<const SamplingRowParams> rows,
                                               std::span<const LogitAdjustment> adjustments,
                                               std::span<const uint32_t> bitmasks) {
  // Every rank checks the step the same way before its first collective: a bad step fails on all.
  return run_on_ranks([&](int r) {
    return models_[static_cast<size_t>(r)]->launch_sampled(batch, token_source, rows, adjustments, bitmasks);
  });
}

Status CudaTensorParallelModel::collect_sampled(std::vector<SampledRow>* sampled, std::vector<float>* other_logits) {
  KILN_RETURN_IF_ERROR(run_on_ranks([&](int r) {
    return models_[static_cast<size_t>(r)]->collect_sampled(&sampled_[static_cast<size_t>(r)],
                                                            &other_logits_[static_cast<size_t>(r)]);
  }));
  *sampled = std::move(sampled_.front());
  *other_logits = std::move(other_logits_.front());
  return ok_status();
}

Status CudaTensorParallelModel::forward(const ForwardBatch& batch, std::vector<float>* logits) {
  KILN_RETURN_IF_ERROR(run_on_ranks(
      [&](int r) { return models_[static_cast<size_t>(r)]->forward(batch, &other_logits_[static_cast<size_t>(r)]); }));
  *logits = std::move(other_logits_.front());
  return ok_status();
}

}  // namespace kiln::cuda
