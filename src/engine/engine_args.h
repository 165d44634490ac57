// Everything that sizes and configures an engine, as vLLM's EngineArgs: one struct that every
// command fills from the same flags (cli/engine_flags.h), resolved against the model and the
// devices (the device `auto` picks, max_model_len, the step's token budget), then handed to
// build_engine (engine/engine_builder.h), which derives each component's own options from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "engine/spec/speculative_config.h"
#include "model/model_config.h"
#include "tensor/dtype.h"

namespace kiln {

struct EngineArgs {
  std::string device = "auto";            // auto (cuda when a GPU is visible), cuda or cpu
  std::optional<int> max_model_len;       // tokens per sequence; unset: max_position_embeddings
  int max_num_seqs = 256;                 // sequences in one batch
  // Tokens in one engine step (chunked prefill); unset: min(max_model_len, 2048 on the CPU,
  // 8192 on a GPU), decided once the device is.
  std::optional<int> max_num_batched_tokens;
  int block_size = 16;                    // tokens per KV cache block
  double gpu_memory_utilization = 0.9;    // share of the GPU for weights, activations, KV cache
  // CPU: the KV cache's budget (unset: 2 GiB). GPU: replaces the utilization plan's KV share.
  std::optional<int64_t> kv_cache_memory_bytes;
  // Exactly this many KV blocks on either backend, ahead of any byte budget (vLLM's
  // num_gpu_blocks_override); `kiln generate` sizes the cache for its one request this way.
  std::optional<int64_t> num_kv_blocks_override;
  std::optional<int64_t> gpu_memory_limit_bytes;  // treat the GPU as this large (rehearsals)
  bool enable_prefix_caching = true;
  bool enforce_eager = false;             // CUDA: no decode graphs
  // vLLM's --async-scheduling: launch each step before the previous one's tokens reach the host
  // (EngineConfig::async_scheduling). Unset: on where the backend runs asynchronously (CUDA),
  // off on the CPU, whose steps finish inside launch().
  std::optional<bool> async_scheduling;
  std::string dtype = "auto";             // auto, bfloat16, float16 or float32 (normalized)
  // vLLM's --kv-cache-dtype: auto (the compute dtype: bf16 on CUDA, f32 on the CPU), bfloat16,
  // fp8 or fp8_e4m3 (E4M3 codes with a scale per tensor and layer: half the bytes of bf16).
  std::string kv_cache_dtype = "auto";
  // FP8 cache: each layer's scales from the first prompt batch (vLLM's --calculate-kv-scales)
  // instead of the checkpoint's (or 1.0).
  bool calculate_kv_scales = false;
  // Ranks a model is split over (Megatron-style, model/tensor_parallel.h): threads on the CPU
  // backend, GPUs of this host on the CUDA backend (behind KILN_CUDA_TENSOR_PARALLEL=1 for now).
  int tensor_parallel_size = 1;
  int num_threads = 0;                    // CPU forward threads; 0: all cores
  int profile_every_n_steps = 0;          // CUDA: log every Nth step's operator breakdown
  // "auto": the model folder's generation_config.json when present; "vllm": ignore it; any other
  // value: a folder holding one. Read by whoever builds the engine's GenerationDefaults (cli/),
  // since the file is the tokenizer layer's to parse.
  std::string generation_config = "auto";
  std::optional<uint64_t> seed;           // global seed (EngineConfig::seed); unset: random
  bool show_progress = true;              // the weight-loading progress bar
  // --quantization: "fp8" quantizes a bf16/f16/f32 checkpoint's linear layers to FP8 at load
  // (per-channel E4M3 weights, dynamic per-token activations; lm_head stays); empty or "none" runs
  // the checkpoint as it is. FP8 checkpoints are recognised from config.json without it.
  std::string quantization;
  // vLLM's --speculative-config (engine/spec/speculative_config.h); off when its method is empty.
  SpeculativeConfig speculative;
  // The command records the drafts of speculative method "oracle" (kiln bench latency only).
  bool records_oracle_drafts = false;

  // From the environment, read by the CLI only:
  bool cuda_programmatic_dependent_launch = true;  // KILN_CUDA_PDL=0 turns it off
  // KILN_FP8_WEIGHT_ONLY=1: FP8 linears run weight-only (W8A16, Ampere's path) on a GPU with FP8
  // tensor cores too, to compare the two.
  bool fp8_weight_only = false;
  // KILN_CUDA_OVERLAP_ATTENTION: in mixed steps the decode rows' attention runs on a second
  // stream beside the prefill attention (CudaModelOptions::overlap_mixed_attention).
  bool cuda_overlap_mixed_attention = false;
  // KILN_CUDA_DECODE_ATTENTION_MMA=1: decode attention on the tensor cores
  // (CudaModelOptions::decode_attention_mma), off until its GPU tests and benchmarks have run.
  bool cuda_decode_attention_mma = false;
  // KILN_CUDA_SPEC_TREES=1: speculative draft trees (draft_tree_topk > 1) on the CUDA backend
  // (tree-masked prefill attention, KV moves: CudaModelOptions::draft_trees), off until its GPU
  // tests have run; without it the CUDA backend drafts chains.
  bool cuda_spec_trees = false;
  // KILN_CUDA_TENSOR_PARALLEL=1: --tensor-parallel-size > 1 on the CUDA backend, which is off
  // until the multi-GPU tests and benchmarks have run on a multi-GPU machine.
  bool cuda_tensor_parallel = false;
  // KILN_TEST_FAIL_AT_POSITION (test only): every step computing a token at or past this
  // position fails, as a device fault would.
  std::optional<int> test_fail_at_position;
};

// The devices this process could run on.
struct AvailableDevices {
  bool cuda_built = false;  // this kiln has the CUDA backend
  int num_cuda_devices = 0;
};

// EngineArgs with what the flags left open decided for one model on one device.
struct ResolvedEngineArgs {
  EngineArgs args;             // as given
  std::string device;          // "cpu" or "cuda"
  DType kv_cache_dtype = DType::kBF16;  // kF32 (CPU auto), kBF16 (CUDA auto) or kF8E4M3
  int max_model_len = 0;
  int max_num_batched_tokens = 0;
};

// Range checks that need neither the model nor the device; errors name the flag.
Status validate_engine_args(const EngineArgs& args);

// Validates, resolves `auto` to a device, then derives the defaults that depend on it, and
// checks max_model_len against the model and --dtype against the device. The one place these
// are decided for every command.
Result<ResolvedEngineArgs> resolve_engine_args(const EngineArgs& args, const ModelConfig& model,
                                               const AvailableDevices& devices);

// Whether the backend on `device` ("cpu" or "cuda") can run --dtype `dtype` (normalized): CUDA
// computes in bfloat16 only, so float16 and float32 are refused there; the CPU backend computes
// in float32 whatever the flag says (the caller logs that).
Status check_dtype_for_device(const std::string& dtype, const std::string& device);

}  // namespace kiln
