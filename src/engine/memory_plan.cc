#include "engine/memory_plan.h"

#include <cstdio>
#include <string>

#include "base/byte_size.h"
#include "base/log.h"

namespace kiln {
namespace {

// 131072 -> "131,072", as vLLM prints token counts.
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  const int len = static_cast<int>(digits.size());
  for (int i = 0; i < len; ++i) {
    if (i > 0 && (len - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

Status check_one_request_fits(const MemoryPlan& plan, const std::string& budget_flag) {
  if (plan.bytes_per_block <= 0 || plan.block_size <= 0 || plan.max_model_len <= 0) {
    return Status::error("KV cache plan: block size and max_model_len must be positive");
  }
  const int64_t blocks_needed = (plan.max_model_len + plan.block_size - 1) / plan.block_size;
  if (plan.num_blocks >= blocks_needed) return ok_status();
  return Status::error(budget_flag + ": to serve at least one request with the model's max seq len (" +
                       std::to_string(plan.max_model_len) + "), " +
                       format_gib(blocks_needed * plan.bytes_per_block) +
                       " KV cache is needed, which is larger than the available KV cache memory (" +
                       format_gib(plan.kv_cache_bytes) +
                       "). Based on the available memory, the estimated maximum model length is " +
                       std::to_string(plan.num_kv_tokens()) + ". Try increasing " + budget_flag +
                       " or decreasing --max-model-len.");
}

Result<MemoryPlan> plan_kv_cache(int64_t kv_budget_bytes, int64_t bytes_per_block, int block_size,
                                 int max_model_len, int64_t weights_bytes,
                                 int64_t activation_bytes) {
  MemoryPlan plan;
  plan.weights_bytes = weights_bytes;
  plan.activation_bytes = activation_bytes;
  plan.bytes_per_block = bytes_per_block;
  plan.block_size = block_size;
  plan.max_model_len = max_model_len;
  plan.num_blocks = kv_budget_bytes > 0 && bytes_per_block > 0 ? kv_budget_bytes / bytes_per_block : 0;
  plan.kv_cache_bytes = plan.num_blocks * bytes_per_block;
  KILN_RETURN_IF_ERROR(check_one_request_fits(plan, "--kv-cache-memory"));
  return plan;
}

void log_memory_plan(const MemoryPlan& plan, double gpu_memory_utilization) {
  if (plan.total_bytes > 0) {
    char line[256];
    std::snprintf(line, sizeof(line), "kiln instance can use total GPU memory (%s) x utilization (%.2f) = %s",
                  format_gib(plan.total_bytes).c_str(), gpu_memory_utilization,
                  format_gib(plan.usable_bytes).c_str());
    KILN_LOG(Info) << line;
    KILN_LOG(Info) << "Model weights: " << format_gib(plan.weights_bytes) << " | Activation memory: "
                   << format_gib(plan.activation_bytes) << " | KV Cache: " << format_gib(plan.kv_cache_bytes)
                   << " (CUDA context and libraries: " << format_gib(plan.context_bytes)
                   << ", CUDA graphs: " << format_gib(plan.graphs_bytes) << " for up to " << plan.num_graphs
                   << " decode graphs)";
  }
  char concurrency[64];
  std::snprintf(concurrency, sizeof(concurrency), "%.2fx", plan.max_concurrency());
  KILN_LOG(Info) << "Model weights take " << format_gib(plan.weights_bytes)
                 << "; activation peak " << format_gib(plan.activation_bytes);
  KILN_LOG(Info) << "Available KV cache memory: " << format_gib(plan.kv_cache_bytes);
  KILN_LOG(Info) << "KV cache size: " << with_commas(plan.num_kv_tokens()) << " tokens ("
                 << with_commas(plan.num_blocks) << " blocks of " << plan.block_size
                 << " tokens, " << format_bytes(plan.bytes_per_block) << " each, "
                 << dtype_name(plan.kv_cache_dtype) << ")";
  KILN_LOG(Info) << "Maximum concurrency for " << with_commas(plan.max_model_len)
                 << " tokens per request: " << concurrency;
}

}  // namespace kiln
