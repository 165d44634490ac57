#include "engine/model_backend.h"

#include <unistd.h>

#include <fstream>

#include "base/byte_size.h"
#include "base/log.h"
#include "engine/cpu_model_executor.h"
#include "engine/cpu_tensor_parallel_executor.h"
#include "engine/memory_plan.h"
#include "model/cpu_model.h"
#include "model/cpu_tensor_parallel_model.h"
#include "model/kv_cache_scales.h"
#include "model/tensor_parallel.h"

#ifdef KILN_HAVE_CUDA
#include "engine/cuda/cuda_model_executor.h"
#include "engine/cuda/cuda_tensor_parallel_executor.h"
#include "kernels/cuda/cuda_context.h"
#include "model/cuda/cuda_model.h"
#include "model/cuda/cuda_tensor_parallel_model.h"
#endif

namespace kiln {
namespace {

constexpr int64_t kDefaultCpuKvCacheBytes = int64_t{2} << 30;

// Activations of one CPU step: CpuModel's per-layer buffers for max_num_batched_tokens rows
// plus the logits rows; what the plan logs as the activation peak.
int64_t cpu_activation_bytes(const ModelConfig& c, int max_tokens, int max_seqs) {
  const int64_t per_token = 4LL * c.hidden_size + 2LL * c.q_size() + 2LL * c.kv_size() + 3LL * c.intermediate_size;
  return (per_token * max_tokens + static_cast<int64_t>(max_seqs) * c.vocab_size) * 4;
}

// "model name" of /proc/cpuinfo (empty where there is none).
std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      const size_t start = colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

int64_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
}

// The FP8 cache's per-layer scales to start from: the checkpoint's when it has them (and the
// cache is FP8, without --calculate-kv-scales), else none (1.0); logged either way.
Result<std::vector<float>> fp8_kv_scales(const LoadedModel& loaded, const ResolvedEngineArgs& resolved) {
  KILN_ASSIGN_OR_RETURN(std::vector<float> scales, kv_scales_from_weights(loaded.weights));
  if (resolved.kv_cache_dtype != DType::kF8E4M3) {
    if (!scales.empty()) {
      KILN_LOG(Info) << "The checkpoint has KV cache scales; they apply only with --kv-cache-dtype fp8";
    }
    return std::vector<float>{};
  }
  if (resolved.args.calculate_kv_scales) {
    KILN_LOG(Info) << "KV cache dtype fp8_e4m3: scales will be calculated from the first prompt batch";
    return std::vector<float>{};
  }
  if (scales.empty()) {
    KILN_LOG(Warning) << "KV cache dtype fp8_e4m3 without scales in the checkpoint: every scale is 1.0 (values "
                         "beyond +-448 clip; --calculate-kv-scales sets them from the first prompt batch)";
  } else {
    KILN_LOG(Info) << "KV cache dtype fp8_e4m3 with the checkpoint's per-layer k/v scales";
  }
  return scales;
}

Result<ModelBackend> create_cpu_backend(std::unique_ptr<LoadedModel> loaded, const ResolvedEngineArgs& resolved) {
  const EngineArgs& args = resolved.args;
  const ModelConfig& config = loaded->config;
  const int tp = args.tensor_parallel_size;
  // The ranks hold the same blocks, each for its own KV heads: a block costs all ranks' bytes.
  const int64_t block_bytes = tensor_parallel_kv_bytes_per_block(config, tp, args.block_size, resolved.kv_cache_dtype);
  const std::optional<int64_t> blocks = requested_kv_blocks(args, block_bytes);
  const int64_t budget = blocks ? *blocks * block_bytes : kDefaultCpuKvCacheBytes;
  KILN_ASSIGN_OR_RETURN(MemoryPlan plan,
                        plan_kv_cache(budget, block_bytes, args.block_size, resolved.max_model_len,
                                      loaded->weight_bytes,
                                      cpu_activation_bytes(config, resolved.max_num_batched_tokens, args.max_num_seqs)));
  plan.kv_cache_dtype = resolved.kv_cache_dtype;
  log_memory_plan(plan);
  CpuModelOptions cpu_options;
  cpu_options.num_blocks = static_cast<int>(plan.num_blocks);
  cpu_options.block_size = args.block_size;
  cpu_options.num_threads = args.num_threads;
  cpu_options.kv_cache_dtype = resolved.kv_cache_dtype;
  cpu_options.calculate_kv_scales = args.calculate_kv_scales;
  KILN_ASSIGN_OR_RETURN(cpu_options.kv_scales, fp8_kv_scales(*loaded, resolved));
  ModelBackend backend;
  if (tp > 1 && args.speculative.method == "eagle3") {
    return Status::error("--speculative-config: method eagle3 runs without --tensor-parallel-size so far");
  }
  if (tp > 1) {
    KILN_ASSIGN_OR_RETURN(auto model, CpuTensorParallelModel::create(config, loaded->weights, tp, cpu_options));
    KILN_LOG(Info) << "CPU backend: tensor parallel over " << tp << " ranks (threads), " << model->num_threads()
                   << " threads in all, " << cpu::isa_name(model->rank(0).isa()) << "; o_proj and down_proj slices copied: "
                   << format_bytes(model->copied_weight_bytes());
    backend.executor = std::make_unique<CpuTensorParallelExecutor>(std::move(model));
  } else if (args.speculative.method == "eagle3") {
    KILN_ASSIGN_OR_RETURN(auto head, load_eagle3_head(args.speculative.model, config, loaded->weights.embed_tokens));
    cpu_options.capture_layer_inputs = head->config.target_layer_inputs;
    KILN_ASSIGN_OR_RETURN(auto model, CpuModel::create(config, loaded->weights, cpu_options));
    KILN_ASSIGN_OR_RETURN(auto drafter, CpuEagle3Drafter::create(head->config, head->weights, args.num_threads));
    KILN_LOG(Info) << "CPU backend: " << model->num_threads() << " threads, " << cpu::isa_name(model->isa())
                   << "; EAGLE-3 head " << args.speculative.model << " (draft vocabulary " << head->config.draft_vocab_size
                   << ", reading the inputs of target layers " << head->config.target_layer_inputs[0] << ", "
                   << head->config.target_layer_inputs[1] << ", " << head->config.target_layer_inputs[2] << ")";
    backend.executor = std::make_unique<CpuModelExecutor>(std::move(model), std::move(drafter), std::move(head));
  } else {
    KILN_ASSIGN_OR_RETURN(auto model, CpuModel::create(config, loaded->weights, cpu_options));
    KILN_LOG(Info) << "CPU backend: " << model->num_threads() << " threads, " << cpu::isa_name(model->isa());
    backend.executor = std::make_unique<CpuModelExecutor>(std::move(model));
  }
  backend.config = config;
  backend.plan = plan;
  backend.device = "cpu";
  backend.device_name = cpu_model_name();
  backend.device_memory_bytes = host_memory_bytes();
  backend.host_weights = std::move(loaded);
  return backend;
}

#ifdef KILN_HAVE_CUDA
Result<ModelBackend> create_cuda_backend(std::unique_ptr<LoadedModel> loaded, const ResolvedEngineArgs& resolved) {
  const EngineArgs& args = resolved.args;
  const ModelConfig& config = loaded->config;
  const DType kv_dtype = resolved.kv_cache_dtype;
  cuda::CudaModelOptions cuda_options;
  cuda_options.kv_cache_dtype = kv_dtype;
  cuda_options.calculate_kv_scales = args.calculate_kv_scales;
  KILN_ASSIGN_OR_RETURN(cuda_options.kv_scales, fp8_kv_scales(*loaded, resolved));
  cuda_options.block_size = args.block_size;
  cuda_options.max_num_batched_tokens = resolved.max_num_batched_tokens;
  cuda_options.max_num_seqs = args.max_num_seqs;
  cuda_options.max_model_len = resolved.max_model_len;
  cuda_options.gpu_memory_utilization = args.gpu_memory_utilization;
  cuda_options.gpu_memory_limit_bytes = args.gpu_memory_limit_bytes;
  cuda_options.enforce_eager = args.enforce_eager;
  cuda_options.profile_every_n_steps = args.profile_every_n_steps;
  cuda_options.programmatic_dependent_launch = args.cuda_programmatic_dependent_launch;
  cuda_options.fp8_weight_only = args.fp8_weight_only;
  cuda_options.overlap_mixed_attention = args.cuda_overlap_mixed_attention;
  cuda_options.decode_attention_mma = args.cuda_decode_attention_mma;
  cuda_options.draft_trees = args.cuda_spec_trees && args.speculative.draft_tree_topk > 1;
  // Speculative steps sample a row per drafted position of the sequences that draft (at most
  // the batch size limit of them).
  if (args.speculative.enabled()) {
    cuda_options.max_sampled_rows =
        args.max_num_seqs + std::min(args.max_num_seqs, args.speculative.batch_size_limit()) * args.speculative.num_speculative_tokens;
  }
  const int tp = args.tensor_parallel_size;
  // Per GPU: a block holds the rank's KV heads (--kv-cache-memory is each GPU's budget, as vLLM's).
  const int64_t rank_block_bytes =
      tp > 1 ? kv_bytes_per_block(shard_config(config, shard_shape(config, 0, tp)), args.block_size, kv_dtype)
             : kv_bytes_per_block(config, args.block_size, kv_dtype);
  if (auto blocks = requested_kv_blocks(args, rank_block_bytes)) {
    cuda_options.num_blocks = static_cast<int>(*blocks);
  }
  if (tp > 1) {
    KILN_ASSIGN_OR_RETURN(auto group, cuda::CudaTensorParallelModel::create(config, loaded->weights, tp, cuda_options));
    const MemoryPlan plan = group->memory_plan();
    log_memory_plan(plan, args.gpu_memory_utilization);
    KILN_RETURN_IF_ERROR(check_one_request_fits(
        plan, args.kv_cache_memory_bytes ? "--kv-cache-memory" : "--gpu-memory-utilization"));
    ModelBackend backend;
    backend.config = config;
    backend.device_name = std::to_string(tp) + " x " + group->rank(0).device_info().name;
    backend.device_memory_bytes = plan.total_bytes * tp;
    backend.executor = std::make_unique<CudaTensorParallelExecutor>(std::move(group));
    backend.plan = plan;
    backend.device = "cuda";
    return backend;
  }
  KILN_ASSIGN_OR_RETURN(auto model, cuda::CudaModel::create(config, loaded->weights, cuda_options));
  const MemoryPlan plan = model->memory_plan();
  log_memory_plan(plan, args.gpu_memory_utilization);
  KILN_RETURN_IF_ERROR(
      check_one_request_fits(plan, args.kv_cache_memory_bytes ? "--kv-cache-memory" : "--gpu-memory-utilization"));
  ModelBackend backend;
  backend.config = config;
  backend.device_name = model->device_info().name;
  backend.device_memory_bytes = plan.total_bytes;
  backend.executor = std::make_unique<CudaModelExecutor>(std::move(model));
  backend.plan = plan;
  backend.device = "cuda";
  return backend;  // the host mapping is released: the weights live on the GPU now
}
#endif

}  // namespace

AvailableDevices detect_devices() {
  AvailableDevices devices;
#ifdef KILN_HAVE_CUDA
  devices.cuda_built = true;
  devices.num_cuda_devices = cuda::device_count();
#endif
  return devices;
}

std::optional<int64_t> requested_kv_blocks(const EngineArgs& args, int64_t bytes_per_block) {
  if (args.num_kv_blocks_override) return *args.num_kv_blocks_override;
  if (args.kv_cache_memory_bytes && bytes_per_block > 0) return *args.kv_cache_memory_bytes / bytes_per_block;
  return std::nullopt;
}

Result<ModelBackend> create_model_backend(const std::filesystem::path& model_dir, const ResolvedEngineArgs& resolved) {
  // max_model_len was checked against this folder's config.json by resolve_engine_args.
  LoadOptions load_options;
  load_options.show_progress = resolved.args.show_progress;
  // The CUDA upload reads each page once through its pinned staging buffers (with its own
  // progress bar): a prefault pass first would read the 16 GB twice (8 s of a 12 s start on the
  // H200). The CPU backend computes from the mapping, so it prefaults.
  load_options.prefault = resolved.device == "cpu";
  load_options.quantization = resolved.args.quantization;
  KILN_ASSIGN_OR_RETURN(auto loaded, load_model(model_dir, load_options));
#ifdef KILN_HAVE_CUDA
  if (resolved.device == "cuda") return create_cuda_backend(std::move(loaded), resolved);
#endif
  if (resolved.device != "cpu") return Status::error("--device " + resolved.device + ": not available in this kiln");
  return create_cpu_backend(std::move(loaded), resolved);
}

}  // namespace kiln
