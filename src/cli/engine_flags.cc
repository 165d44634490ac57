#include "cli/engine_flags.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>

#include "cli/speculative_config_flag.h"

namespace kiln::cli {

Result<std::string> normalize_dtype(const std::string& value) {
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "auto") return std::string("auto");
  if (lower == "bfloat16" || lower == "bf16") return std::string("bfloat16");
  if (lower == "float16" || lower == "half" || lower == "fp16") return std::string("float16");
  if (lower == "float32" || lower == "float" || lower == "fp32") return std::string("float32");
  return Status::error("--dtype " + value + ": expected auto, bfloat16 (bf16), float16 (half) or float32 (float)");
}

void add_engine_flags(FlagParser& parser, EngineArgs* a) {
  parser.add_optional_int("max-model-len", &a->max_model_len,
                          "context length (default: config.json's max_position_embeddings)");
  parser.add_int("max-num-seqs", &a->max_num_seqs, "maximum sequences in one batch");
  parser.add_optional_int("max-num-batched-tokens", &a->max_num_batched_tokens,
                          "maximum tokens in one engine step (default: chosen from max-model-len)");
  parser.add_int("block-size", &a->block_size, "KV cache block size in tokens");
  parser.add_double("gpu-memory-utilization", &a->gpu_memory_utilization,
                    "fraction of GPU memory for weights, activations and KV cache");
  parser.add_byte_size("kv-cache-memory", &a->kv_cache_memory_bytes,
                       "KV cache size in bytes (e.g. 4GiB); overrides --gpu-memory-utilization");
  parser.add_bool("enable-prefix-caching", &a->enable_prefix_caching, "reuse KV blocks of shared prompt prefixes");
  parser.add_bool("enforce-eager", &a->enforce_eager, "no CUDA graphs: launch every decode step kernel by kernel");
  parser.add_optional_bool("async-scheduling", &a->async_scheduling,
                           "launch each engine step before the previous step's tokens reach the host (the GPU "
                           "feeds them); --no-async-scheduling waits for each step",
                           "on for CUDA, off for the CPU");
  parser.add_custom("dtype", a->dtype,
                    "compute dtype: auto, bfloat16 (bf16), float16 (half), float32 (float); CUDA runs "
                    "bfloat16 only, the CPU backend float32 only",
                    [a](const std::string& value) -> Status {
                      KILN_ASSIGN_OR_RETURN(a->dtype, normalize_dtype(value));
                      return ok_status();
                    });
  parser.add_custom("kv-cache-dtype", a->kv_cache_dtype,
                    "KV cache element type: auto (the compute dtype), bfloat16, fp8 or fp8_e4m3 (E4M3 with "
                    "per-layer scales: twice the tokens, half the bytes read per token)",
                    [a](const std::string& value) -> Status {
                      std::string lower = value;
                      std::transform(lower.begin(), lower.end(), lower.begin(),
                                     [](unsigned char c) { return std::tolower(c); });
                      a->kv_cache_dtype = lower == "bf16" ? "bfloat16" : lower;
                      return ok_status();
                    });
  parser.add_bool("calculate-kv-scales", &a->calculate_kv_scales,
                  "FP8 KV cache: each layer's scales from the first prompt batch instead of the checkpoint's (or 1.0)");
  parser.add_string("generation-config", &a->generation_config,
                    "sampling defaults: auto (the model's generation_config.json), vllm (none), or a folder");
  parser.add_int("tensor-parallel-size", &a->tensor_parallel_size,
                 "ranks the model is split over (Megatron-style): GPUs of this host (KILN_CUDA_TENSOR_PARALLEL=1 "
                 "until verified), threads on the CPU backend");
  parser.add_string("device", &a->device, "auto (cuda when a GPU is visible), cuda or cpu");
  parser.add_byte_size("gpu-memory-limit", &a->gpu_memory_limit_bytes,
                       "treat the GPU as having this much memory (e.g. 24GiB), to rehearse smaller cards");
  parser.add_string("quantization", &a->quantization,
                    "fp8: quantize a bf16/f16/f32 checkpoint's linear layers to FP8 at load (per-channel weights, "
                    "dynamic per-token activations); FP8 checkpoints (compressed-tensors, fp8) need no flag");
  parser.add_custom("speculative-config", "none",
                    "speculative decoding as JSON, vLLM's keys: '{\"method\": \"ngram\"|\"suffix\"|\"eagle3\", "
                    "\"num_speculative_tokens\": 4, \"model\": HEAD (eagle3), ...}' (drafts verified by the model; "
                    "outputs as without)",
                    [a](const std::string& value) -> Status {
                      KILN_ASSIGN_OR_RETURN(a->speculative, parse_speculative_config(value));
                      return ok_status();
                    });
  parser.add_int("num-threads", &a->num_threads, "CPU backend threads (0: all cores)");
  parser.add_int("profile-steps", &a->profile_every_n_steps,
                 "CUDA: log where every Nth step's GPU time goes, by operator (0: off)");
}

Status read_engine_environment(const EnvLookup& env, EngineArgs* args) {
  // Diagnostic switches: 0/false/off or 1/true/on.
  const auto read_switch = [&](const char* name, bool* target) -> Status {
    if (auto text = env(name); text && !text->empty()) {
      if (*text == "0" || *text == "false" || *text == "off") {
        *target = false;
      } else if (*text == "1" || *text == "true" || *text == "on") {
        *target = true;
      } else {
        return Status::error(std::string(name) + " must be 0 or 1, got '" + *text + "'");
      }
    }
    return ok_status();
  };
  KILN_RETURN_IF_ERROR(read_switch("KILN_CUDA_PDL", &args->cuda_programmatic_dependent_launch));
  KILN_RETURN_IF_ERROR(read_switch("KILN_CUDA_OVERLAP_ATTENTION", &args->cuda_overlap_mixed_attention));
  KILN_RETURN_IF_ERROR(read_switch("KILN_CUDA_DECODE_ATTENTION_MMA", &args->cuda_decode_attention_mma));
  KILN_RETURN_IF_ERROR(read_switch("KILN_FP8_WEIGHT_ONLY", &args->fp8_weight_only));
  KILN_RETURN_IF_ERROR(read_switch("KILN_CUDA_TENSOR_PARALLEL", &args->cuda_tensor_parallel));
  KILN_RETURN_IF_ERROR(read_switch("KILN_CUDA_SPEC_TREES", &args->cuda_spec_trees));
  if (auto text = env("KILN_TEST_FAIL_AT_POSITION"); text && !text->empty()) {
    char* end = nullptr;
    const long value = std::strtol(text->c_str(), &end, 10);
    if (*end != '\0' || value < 1 || value > INT32_MAX) {
      return Status::error("KILN_TEST_FAIL_AT_POSITION must be a positive integer, got '" + *text + "'");
    }
    args->test_fail_at_position = static_cast<int>(value);
  }
  return ok_status();
}

}  // namespace kiln::cli
