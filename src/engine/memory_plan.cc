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

double MemoryPlan::max_concurrency() const {
  if (max_model_len <= 0) return 0;
  return static_cast<double>(num_kv_tokens()) / static_cast<double>(max_model_len);
}

int64_t kv_bytes_per_block(const ModelConfig& config, int block_size, DType kv_dtype) {
  return int64_t{2} * config.num_hidden_layers * block_size * config.num_key_value_heads *
         config.head_dim * static_cast<int64_t>(dtype_size_bytes(kv_dtype));
}

Result<MemoryPlan> plan_kv_cache(int64_t kv_budget_bytes, int64_t bytes_per_block, int block_size,
                                 int max_model_len, int64_t weights_bytes,
                                 int64_t activation_peak_bytes) {
  if (bytes_per_block <= 0 || block_size <= 0 || max_model_len <= 0) {
    return Status::error("KV cache plan: block size and max_model_len must be positive");
  }
  MemoryPlan plan;
  plan.weights_bytes = weights_bytes;
  plan.activation_peak_bytes = activation_peak_bytes;
  plan.bytes_per_block = bytes_per_block;
  plan.block_size = block_size;
  plan.max_model_len = max_model_len;
  plan.num_blocks = kv_budget_bytes > 0 ? kv_budget_bytes / bytes_per_block : 0;
  plan.kv_cache_bytes = plan.num_blocks * bytes_per_block;
  const int64_t blocks_needed = (max_model_len + block_size - 1) / block_size;
  if (plan.num_blocks < blocks_needed) {
    const int64_t estimated_len = plan.num_blocks * block_size;
    return Status::error(
        "--kv-cache-memory: to serve at least one request with the model's max seq len (" +
        std::to_string(max_model_len) + "), " + format_gib(blocks_needed * bytes_per_block) +
        " KV cache is needed, which is larger than the available KV cache memory (" +
        format_gib(kv_budget_bytes) + "). Based on the available memory, the estimated maximum "
        "model length is " + std::to_string(estimated_len) +
        ". Try increasing --kv-cache-memory or decreasing --max-model-len.");
  }
  return plan;
}

void log_memory_plan(const MemoryPlan& plan) {
  char concurrency[64];
  std::snprintf(concurrency, sizeof(concurrency), "%.2fx", plan.max_concurrency());
  KILN_LOG(Info) << "Model weights take " << format_gib(plan.weights_bytes)
                 << "; activation peak " << format_gib(plan.activation_peak_bytes);
  KILN_LOG(Info) << "Available KV cache memory: " << format_gib(plan.kv_cache_bytes);
  KILN_LOG(Info) << "KV cache size: " << with_commas(plan.num_kv_tokens()) << " tokens ("
                 << with_commas(plan.num_blocks) << " blocks of " << plan.block_size
                 << " tokens, " << format_bytes(plan.bytes_per_block) << " each)";
  KILN_LOG(Info) << "Maximum concurrency for " << with_commas(plan.max_model_len)
                 << " tokens per request: " << concurrency;
}

}  // namespace kiln
