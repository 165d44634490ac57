// `kiln synth`: a Hugging Face model directory with deterministic random weights of a config's
// shapes, for tests, the demo and benchmarks. Writes config.json (the input with torch_dtype
// set), the weights (model.safetensors, or HF-style shards plus model.safetensors.index.json
// above max_shard_bytes) and copies the tokenizer files. Weights come from weight_rng.h:
// matrices and biases N(0, stddev), RMSNorm weights 1 + N(0, stddev).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "base/status.h"
#include "tensor/dtype.h"

namespace kiln {

// The quantization_config synth writes (model/quant/quantization_config.h for the formats).
enum class SynthQuantization {
  kAsConfig,    // whatever the input config.json says (none, or an FP8 scheme kiln runs)
  kNone,        // drop the input's quantization_config
  kFp8Dynamic,  // compressed-tensors FP8-dynamic: per-channel bf16 scales, dynamic per-token activations
  kFp8Block,    // quant_method fp8, weight_block_size [128, 128]: F32 weight_scale_inv per block
};

// "fp8-dynamic", "fp8-block" or "none" (--quantization); nullopt for anything else.
std::optional<SynthQuantization> parse_synth_quantization(const std::string& name);

// HF's save_pretrained default shard size.
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

struct SynthOptions {
  std::filesystem::path config_path;
  std::filesystem::path out_dir;
  std::optional<std::filesystem::path> tokenizer_dir;
  uint64_t seed = 0;
  DType dtype = DType::kBF16;  // of the unquantized tensors (and the values FP8 codes quantize)
  SynthQuantization quantization = SynthQuantization::kAsConfig;
  double stddev = 0.02;
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;  // tests lower it to force sharding
  int num_threads = 0;  // generation threads; 0 = all cores
  bool show_progress = true;
};

struct SynthReport {
  int num_files = 0;         // safetensors files written
  uint64_t weight_bytes = 0;  // tensor data, as metadata.total_size
  double seconds = 0;
};

Result<SynthReport> synth_model(const SynthOptions& options);

}  // namespace kiln
