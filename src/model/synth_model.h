// `kiln synth`: a Hugging Face model directory with deterministic random weights of a config's
// shapes, for tests, the demo and benchmarks. Writes config.json (the input with torch_dtype
// set), the weights (model.safetensors, or HF-style shards plus model.safetensors.index.json
// above max_shard_bytes) and copies the tokenizer files. Weights come from weight_rng.h:
// matrices and biases N(0, stddev), RMSNorm weights 1 + N(0, stddev).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "base/status.h"
#include "tensor/dtype.h"

namespace kiln {

// HF's save_pretrained default shard size.
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

struct SynthOptions {
  std::filesystem::path config_path;
  std::filesystem::path out_dir;
  std::optional<std::filesystem::path> tokenizer_dir;
  uint64_t seed = 0;
  DType dtype = DType::kBF16;
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
