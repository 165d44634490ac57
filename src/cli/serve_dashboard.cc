#include "cli/serve_dashboard.h"

#include <cstdint>

namespace kiln::cli {

server::DashboardInfo make_dashboard_info(const std::string& model, const ResolvedEngineArgs& engine,
                                          const std::string& reasoning_parser, const RunningEngine& running) {
  using server::StatValue;
  const EngineArgs& args = engine.args;
  server::DashboardInfo info;
  info.model = model;
  info.config = {
      {"max_model_len", StatValue(int64_t{engine.max_model_len})},
      {"max_num_seqs", StatValue(int64_t{args.max_num_seqs})},
      {"max_num_batched_tokens", StatValue(int64_t{engine.max_num_batched_tokens})},
      {"block_size", StatValue(int64_t{args.block_size})},
      {"gpu_memory_utilization", StatValue(args.gpu_memory_utilization)},
      {"enable_prefix_caching", StatValue(args.enable_prefix_caching)},
      {"enforce_eager", StatValue(args.enforce_eager)},
      {"dtype", StatValue(args.dtype)},
      {"tensor_parallel_size", StatValue(int64_t{args.tensor_parallel_size})},
      {"reasoning_parser", StatValue(reasoning_parser)},
      {"device", StatValue(running.device)},
  };
  if (args.kv_cache_memory_bytes) {
    info.config.emplace_back("kv_cache_memory_bytes", StatValue(*args.kv_cache_memory_bytes));
  }
  const MemoryPlan& plan = running.plan;
  if (plan.total_bytes > 0) {  // the GPU's split (docs/dashboard-api.md)
    info.memory_plan = {{"total_bytes", StatValue(plan.total_bytes)},
                        {"budget_bytes", StatValue(plan.usable_bytes)},
                        {"context_bytes", StatValue(plan.context_bytes)}};
  }
  info.memory_plan.insert(info.memory_plan.end(), {
      {"weights_bytes", StatValue(plan.weights_bytes)},
      {"activation_bytes", StatValue(plan.activation_bytes)},
      {"kv_cache_bytes", StatValue(plan.kv_cache_bytes)},
      {"kv_cache_bytes_per_block", StatValue(plan.bytes_per_block)},
      {"num_gpu_blocks", StatValue(plan.num_blocks)},
      {"block_size", StatValue(int64_t{plan.block_size})},
      {"max_concurrency", StatValue(plan.max_concurrency())},
  });
  info.device = {{"kind", StatValue(running.device)}};
  if (!running.device_name.empty()) info.device.emplace_back("name", StatValue(running.device_name));
  if (running.device_memory_bytes > 0) {
    info.device.emplace_back("total_memory_bytes", StatValue(running.device_memory_bytes));
  }
  return info;
}

}  // namespace kiln::cli
