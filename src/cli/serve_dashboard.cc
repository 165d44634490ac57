#include "cli/serve_dashboard.h"

#include <cstdint>

namespace kiln {

server::DashboardInfo make_dashboard_info(const ServeOptions& options, const EffectiveServeConfig& effective,
                                          const RunningEngine& running) {
  using web::StatValue;
  server::DashboardInfo info;
  info.model = options.model;
  info.config = {
      {"max_model_len", StatValue(int64_t{effective.max_model_len})},
      {"max_num_seqs", StatValue(int64_t{options.max_num_seqs})},
      {"max_num_batched_tokens", StatValue(int64_t{effective.max_num_batched_tokens})},
      {"block_size", StatValue(int64_t{options.block_size})},
      {"gpu_memory_utilization", StatValue(options.gpu_memory_utilization)},
      {"enable_prefix_caching", StatValue(options.enable_prefix_caching)},
      {"enforce_eager", StatValue(options.enforce_eager)},
      {"dtype", StatValue(options.dtype)},
      {"tensor_parallel_size", StatValue(int64_t{options.tensor_parallel_size})},
      {"reasoning_parser", StatValue(effective.reasoning_parser)},
      {"device", StatValue(running.device)},
  };
  if (options.kv_cache_memory) info.config.emplace_back("kv_cache_memory", StatValue(*options.kv_cache_memory));
  const MemoryPlan& plan = running.plan;
  info.memory_plan = {
      {"weights_bytes", StatValue(plan.weights_bytes)},
      {"activation_bytes", StatValue(plan.activation_peak_bytes)},
      {"kv_cache_bytes", StatValue(plan.kv_cache_bytes)},
      {"kv_cache_bytes_per_block", StatValue(plan.bytes_per_block)},
      {"num_gpu_blocks", StatValue(plan.num_blocks)},
      {"block_size", StatValue(int64_t{plan.block_size})},
      {"max_concurrency", StatValue(plan.max_concurrency())},
  };
  info.device = {{"kind", StatValue(running.device)}};
  if (!running.device_name.empty()) info.device.emplace_back("name", StatValue(running.device_name));
  if (running.device_memory_bytes > 0) {
    info.device.emplace_back("total_memory_bytes", StatValue(running.device_memory_bytes));
  }
  return info;
}

}  // namespace kiln
