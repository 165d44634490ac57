// Loads a model directory and builds the backend the engine runs on, CPU or CUDA, sized by one
// memory plan (engine/memory_plan.h) and logged as vLLM logs it. build_engine
// (engine/engine_builder.h) calls it for every command.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "engine/engine_args.h"
#include "engine/model_executor.h"
#include "model/memory_plan.h"
#include "model/model_config.h"
#include "model/model_loader.h"

namespace kiln {

struct ModelBackend {
  ModelConfig config;
  std::unique_ptr<ModelExecutor> executor;
  MemoryPlan plan;
  std::string device;               // "cpu" or "cuda"
  std::string device_name;          // the GPU's or the CPU's model name (GET /v1/stats)
  int64_t device_memory_bytes = 0;  // the GPU's memory, or the host's for the CPU backend
  // Host weights: the CPU backend reads them in place, so they live as long as the backend.
  std::unique_ptr<LoadedModel> host_weights;
};

// What this process can run on: whether CUDA is built in and how many GPUs are visible.
AvailableDevices detect_devices();

// The KV blocks `args` asks for outright, whatever the plan would give: the block override, or
// --kv-cache-memory divided by the backend's `bytes_per_block` (which depends on the KV dtype).
// nullopt: the backend's plan decides (the GPU's utilization share; the CPU's 2 GiB default).
std::optional<int64_t> requested_kv_blocks(const EngineArgs& args, int64_t bytes_per_block);

// Errors name the flag or file at fault (a KV budget too small for one max_model_len request, a
// bad checkpoint).
Result<ModelBackend> create_model_backend(const std::filesystem::path& model_dir,
                                          const ResolvedEngineArgs& resolved);

}  // namespace kiln
