// Loads a model directory and builds the backend the engine runs on, CPU or CUDA, with its
// memory plan logged as vLLM logs it. Shared by `kiln serve`, `kiln generate` and `kiln bench`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "engine/memory_plan.h"
#include "engine/model_executor.h"
#include "model/model_config.h"
#include "model/model_loader.h"

namespace kiln {

struct BackendOptions {
  std::string device = "auto";  // "auto" (cuda when a GPU is there), "cuda" or "cpu"
  int block_size = 16;
  int max_model_len = 0;  // 0: the config's max_position_embeddings
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  // CPU: the KV cache budget (--kv-cache-memory). CUDA: overrides the utilization plan.
  std::optional<int64_t> kv_cache_memory_bytes;
  double gpu_memory_utilization = 0.9;
  std::optional<int64_t> gpu_memory_limit_bytes;  // test-only cap (--gpu-memory-limit)
  int num_threads = 0;  // CPU forward threads; 0: all cores
  bool enforce_eager = false;  // CUDA: no decode graphs (--enforce-eager)
  int profile_every_n_steps = 0;  // CUDA: log an operator breakdown of every Nth step
  bool show_progress = true;
};

struct ModelBackend {
  ModelConfig config;
  std::unique_ptr<ModelExecutor> executor;
  MemoryPlan plan;
  std::string device;  // "cpu" or "cuda"
  std::string device_name;         // the GPU's or the CPU's model name (GET /v1/stats)
  int64_t device_memory_bytes = 0;  // the GPU's memory, or the host's for the CPU backend
  double gpu_memory_utilization = 0;
  // Host weights: the CPU backend reads them in place, so they live as long as the backend.
  std::unique_ptr<LoadedModel> host_weights;
};

// Errors name the flag or file at fault (--device cuda without a GPU, a KV budget too small for
// one max_model_len request, a bad checkpoint).
Result<ModelBackend> create_model_backend(const std::filesystem::path& model_dir,
                                          const BackendOptions& options);

}  // namespace kiln
