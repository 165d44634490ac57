#include "cli/model_backend.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "base/byte_size.h"
#include "base/log.h"
#include "engine/cpu_model_executor.h"
#include "model/cpu_model.h"

#ifdef KILN_HAVE_CUDA
#include "engine/cuda/cuda_model_executor.h"
#include "kernels/cuda/cuda_context.h"
#include "model/cuda/cuda_model.h"
#endif

namespace kiln {
namespace {

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

bool cuda_available() {
#ifdef KILN_HAVE_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

Result<ModelBackend> create_cpu_backend(std::unique_ptr<LoadedModel> loaded, const BackendOptions& options,
                                        int max_model_len) {
  const ModelConfig& config = loaded->config;
  const int64_t budget = options.kv_cache_memory_bytes.value_or(int64_t{2} << 30);
  auto plan = plan_kv_cache(budget, kv_bytes_per_block(config, options.block_size, DType::kF32), options.block_size,
                            max_model_len, loaded->weight_bytes,
                            cpu_activation_bytes(config, options.max_num_batched_tokens, options.max_num_seqs));
  if (!plan.ok()) return plan.status();
  log_memory_plan(*plan);
  CpuModelOptions cpu_options;
  cpu_options.num_blocks = static_cast<int>(plan->num_blocks);
  cpu_options.block_size = options.block_size;
  cpu_options.num_threads = options.num_threads;
  KILN_ASSIGN_OR_RETURN(auto model, CpuModel::create(config, loaded->weights, cpu_options));
  KILN_LOG(Info) << "CPU backend: " << model->num_threads() << " threads, " << cpu::isa_name(model->isa());
  ModelBackend backend;
  backend.config = config;
  backend.executor = std::make_unique<CpuModelExecutor>(std::move(model));
  backend.plan = *plan;
  backend.device = "cpu";
  backend.device_name = cpu_model_name();
  backend.device_memory_bytes = host_memory_bytes();
  backend.host_weights = std::move(loaded);
  return backend;
}

#ifdef KILN_HAVE_CUDA
Result<ModelBackend> create_cuda_backend(std::unique_ptr<LoadedModel> loaded, const BackendOptions& options,
                                         int max_model_len) {
  const ModelConfig& config = loaded->config;
  cuda::CudaModelOptions cuda_options;
  cuda_options.block_size = options.block_size;
  cuda_options.max_num_batched_tokens = options.max_num_batched_tokens;
  cuda_options.max_num_seqs = options.max_num_seqs;
  cuda_options.max_model_len = max_model_len;
  cuda_options.gpu_memory_utilization = options.gpu_memory_utilization;
  cuda_options.gpu_memory_limit_bytes = options.gpu_memory_limit_bytes;
  cuda_options.enforce_eager = options.enforce_eager;
  cuda_options.profile_every_n_steps = options.profile_every_n_steps;
  if (options.kv_cache_memory_bytes) {
    const int64_t block_bytes = kv_bytes_per_block(config, options.block_size, DType::kBF16);
    cuda_options.num_blocks = static_cast<int>(*options.kv_cache_memory_bytes / block_bytes);
  }
  KILN_ASSIGN_OR_RETURN(auto model, cuda::CudaModel::create(config, loaded->weights, cuda_options));
  const cuda::MemoryPlan& gpu = model->memory_plan();
  char line[256];
  std::snprintf(line, sizeof(line), "kiln instance can use total GPU memory (%s) x utilization (%.2f) = %s",
                format_gib(gpu.total_bytes).c_str(), options.gpu_memory_utilization,
                format_gib(gpu.usable_bytes).c_str());
  KILN_LOG(Info) << line;
  KILN_LOG(Info) << "Model weights: " << format_gib(gpu.weights_bytes) << " | Activation memory: "
                 << format_gib(gpu.activation_bytes) << " | KV Cache: " << format_gib(gpu.kv_cache_bytes)
                 << " (CUDA context and libraries: " << format_gib(gpu.context_bytes) << ")";
  auto plan = plan_kv_cache(gpu.kv_cache_bytes, kv_bytes_per_block(config, options.block_size, DType::kBF16),
                            options.block_size, max_model_len, gpu.weights_bytes, gpu.activation_bytes);
  if (!plan.ok()) return plan.status();
  log_memory_plan(*plan);
  ModelBackend backend;
  backend.config = config;
  backend.device_name = model->device_info().name;
  backend.device_memory_bytes = gpu.total_bytes;
  backend.executor = std::make_unique<CudaModelExecutor>(std::move(model));
  backend.plan = *plan;
  backend.device = "cuda";
  backend.gpu_memory_utilization = options.gpu_memory_utilization;
  return backend;  // the host mapping is released: the weights live on the GPU now
}
#endif

}  // namespace

Result<ModelBackend> create_model_backend(const std::filesystem::path& model_dir, const BackendOptions& options) {
  std::string device = options.device;
  if (device == "auto") device = cuda_available() ? "cuda" : "cpu";
  if (device != "cpu" && device != "cuda") {
    return Status::error("--device must be auto, cuda or cpu, got '" + options.device + "'");
  }
  if (device == "cuda" && !cuda_available()) {
#ifdef KILN_HAVE_CUDA
    return Status::error("--device cuda: no CUDA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES), "
                         "or use --device cpu");
#else
    return Status::error("--device cuda: this kiln was built without the CUDA backend; use --device cpu");
#endif
  }
  LoadOptions load_options;
  load_options.show_progress = options.show_progress;
  // The CUDA upload reads each page once through its pinned staging buffers (with its own
  // progress bar): a prefault pass first would read the 16 GB twice (8 s of a 12 s start on the
  // H200). The CPU backend computes from the mapping, so it prefaults.
  load_options.prefault = device == "cpu";
  KILN_ASSIGN_OR_RETURN(auto loaded, load_model(model_dir, load_options));
  const ModelConfig& config = loaded->config;
  const int max_model_len = options.max_model_len > 0 ? options.max_model_len : config.max_position_embeddings;
  if (max_model_len > config.max_position_embeddings) {
    return Status::error("--max-model-len " + std::to_string(max_model_len) +
                         " exceeds the model's max_position_embeddings " +
                         std::to_string(config.max_position_embeddings));
  }
#ifdef KILN_HAVE_CUDA
  if (device == "cuda") return create_cuda_backend(std::move(loaded), options, max_model_len);
#endif
  return create_cpu_backend(std::move(loaded), options, max_model_len);
}

}  // namespace kiln
