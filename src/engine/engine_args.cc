#include "engine/engine_args.h"

#include <algorithm>

#include "model/tensor_parallel.h"

namespace kiln {

Status check_dtype_for_device(const std::string& dtype, const std::string& device) {
  if (device == "cuda" && (dtype == "float16" || dtype == "float32")) {
    return Status::error("--dtype " + dtype +
                         ": the CUDA backend computes in bfloat16 only; use --dtype auto or bfloat16");
  }
  return ok_status();
}

Status validate_engine_args(const EngineArgs& a) {
  if (a.device != "auto" && a.device != "cuda" && a.device != "cpu") {
    return Status::error("--device " + a.device + ": expected auto, cuda or cpu");
  }
  if (a.tensor_parallel_size < 1) {
    return Status::error("--tensor-parallel-size " + std::to_string(a.tensor_parallel_size) + ": must be at least 1");
  }
  if (!(a.gpu_memory_utilization > 0 && a.gpu_memory_utilization <= 1)) {
    return Status::error("--gpu-memory-utilization must be in (0, 1]");
  }
  if (a.block_size <= 0 || (a.block_size & (a.block_size - 1)) != 0) {
    return Status::error("--block-size must be a power of two");
  }
  if (a.max_num_seqs < 1) return Status::error("--max-num-seqs must be at least 1");
  if (a.max_model_len && *a.max_model_len < 1) return Status::error("--max-model-len must be at least 1");
  if (a.max_num_batched_tokens && *a.max_num_batched_tokens < 1) {
    return Status::error("--max-num-batched-tokens must be at least 1");
  }
  if (a.kv_cache_memory_bytes && *a.kv_cache_memory_bytes <= 0) {
    return Status::error("--kv-cache-memory must be more than 0 bytes");
  }
  if (a.gpu_memory_limit_bytes && *a.gpu_memory_limit_bytes <= 0) {
    return Status::error("--gpu-memory-limit must be more than 0 bytes");
  }
  if (a.num_kv_blocks_override && *a.num_kv_blocks_override < 1) {
    return Status::error("the KV block count must be at least 1");
  }
  if (!a.quantization.empty() && a.quantization != "none" && a.quantization != "fp8") {
    return Status::error("--quantization " + a.quantization +
                         ": not supported (supported: fp8; FP8 checkpoints are recognised from config.json)");
  }
  if (a.num_threads < 0) return Status::error("--num-threads must be >= 0");
  if (a.profile_every_n_steps < 0) return Status::error("--profile-steps must be >= 0");
  if (a.kv_cache_dtype == "fp8_e5m2") {
    return Status::error("--kv-cache-dtype fp8_e5m2: kiln's FP8 KV cache is E4M3 (fp8, fp8_e4m3)");
  }
  if (a.kv_cache_dtype != "auto" && a.kv_cache_dtype != "bfloat16" && a.kv_cache_dtype != "fp8" &&
      a.kv_cache_dtype != "fp8_e4m3") {
    return Status::error("--kv-cache-dtype " + a.kv_cache_dtype + ": expected auto, bfloat16, fp8 or fp8_e4m3");
  }
  if (a.calculate_kv_scales && a.kv_cache_dtype != "fp8" && a.kv_cache_dtype != "fp8_e4m3") {
    return Status::error("--calculate-kv-scales needs --kv-cache-dtype fp8 (it sets the FP8 cache's scales)");
  }
  if (a.dtype != "auto" && a.dtype != "bfloat16" && a.dtype != "float16" && a.dtype != "float32") {
    return Status::error("--dtype " + a.dtype + ": expected auto, bfloat16, float16 or float32");
  }
  SpeculativeConfig speculative = a.speculative;
  KILN_RETURN_IF_ERROR(resolve_speculative_config(&speculative));
  if (speculative.method == "oracle" && !a.records_oracle_drafts) {
    return Status::error("--speculative-config: method oracle drafts recorded outputs; it runs in kiln bench latency only");
  }
  // An explicit --device is checked now, before a model is downloaded or loaded; `auto` once
  // resolve_engine_args knows the device.
  if (a.device != "auto") KILN_RETURN_IF_ERROR(check_dtype_for_device(a.dtype, a.device));
  return ok_status();
}

Result<ResolvedEngineArgs> resolve_engine_args(const EngineArgs& args, const ModelConfig& model,
                                               const AvailableDevices& devices) {
  KILN_RETURN_IF_ERROR(validate_engine_args(args));
  ResolvedEngineArgs resolved;
  resolved.args = args;
  KILN_RETURN_IF_ERROR(resolve_speculative_config(&resolved.args.speculative));
  const bool cuda_visible = devices.cuda_built && devices.num_cuda_devices > 0;
  resolved.device = args.device == "auto" ? (cuda_visible ? "cuda" : "cpu") : args.device;
  // An unsupported --dtype is named before a missing GPU: it is wrong on any machine.
  KILN_RETURN_IF_ERROR(check_dtype_for_device(args.dtype, resolved.device));
  if (resolved.device == "cuda" && !devices.cuda_built) {
    return Status::error("--device cuda: this kiln was built without the CUDA backend; use --device cpu");
  }
  if (resolved.device == "cuda" && !cuda_visible) {
    return Status::error("--device cuda: no CUDA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES), "
                         "or use --device cpu");
  }

  KILN_RETURN_IF_ERROR(check_tensor_parallel(model, args.tensor_parallel_size));
  if (resolved.device == "cuda" && args.tensor_parallel_size > 1) {
    const std::string flag = "--tensor-parallel-size " + std::to_string(args.tensor_parallel_size) + ": ";
    if (!args.cuda_tensor_parallel) {
      return Status::error(flag + "tensor parallelism on GPUs awaits its multi-GPU verification; "
                           "KILN_CUDA_TENSOR_PARALLEL=1 runs it now (--device cpu runs it over threads)");
    }
    if (args.tensor_parallel_size > devices.num_cuda_devices) {
      return Status::error(flag + "only " + std::to_string(devices.num_cuda_devices) +
                           " GPUs are visible (check CUDA_VISIBLE_DEVICES)");
    }
  }

  const bool fp8_cache = args.kv_cache_dtype == "fp8" || args.kv_cache_dtype == "fp8_e4m3";
  if (resolved.device == "cpu" && args.kv_cache_dtype == "bfloat16") {
    return Status::error("--kv-cache-dtype bfloat16: the CPU backend keeps its KV cache in float32 (auto) or fp8");
  }
  resolved.kv_cache_dtype = fp8_cache ? DType::kF8E4M3 : resolved.device == "cpu" ? DType::kF32 : DType::kBF16;

  resolved.max_model_len = args.max_model_len.value_or(model.max_position_embeddings);
  if (resolved.max_model_len > model.max_position_embeddings) {
    return Status::error("--max-model-len " + std::to_string(resolved.max_model_len) +
                         " exceeds the model's max_position_embeddings " +
                         std::to_string(model.max_position_embeddings));
  }
  // vLLM's defaults: a CPU step is slow enough that a smaller chunk keeps decodes flowing.
  const int step_tokens = resolved.device == "cpu" ? 2048 : 8192;
  resolved.max_num_batched_tokens =
      args.max_num_batched_tokens.value_or(std::min(resolved.max_model_len, step_tokens));
  return resolved;
}

}  // namespace kiln
