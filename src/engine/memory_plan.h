// Memory planning for both backends (model/memory_plan.h holds the plan): the CPU's KV cache
// from a byte budget (--kv-cache-memory), the check that one request of max_model_len fits
// whatever the backend, and the start-up log lines vLLM prints for the plan.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/memory_plan.h"

namespace kiln {

// Sizes the KV cache from a byte budget. Fails with the advice vLLM gives when not even one
// request of max_model_len tokens fits.
Result<MemoryPlan> plan_kv_cache(int64_t kv_budget_bytes, int64_t bytes_per_block, int block_size,
                                 int max_model_len, int64_t weights_bytes,
                                 int64_t activation_bytes);

// Whether one request of plan.max_model_len tokens fits the plan's KV cache; the error names
// `budget_flag`, the flag that sized the cache (--kv-cache-memory or --gpu-memory-utilization).
Status check_one_request_fits(const MemoryPlan& plan, const std::string& budget_flag);

// Logs the plan in vLLM's words: on a GPU the usable memory and its split first; then model
// weights, activation peak, available KV cache memory, KV cache size in tokens and blocks, and
// "Maximum concurrency for N tokens per request: X.XXx". `gpu_memory_utilization` is printed
// with the GPU lines.
void log_memory_plan(const MemoryPlan& plan, double gpu_memory_utilization = 0);

}  // namespace kiln
