// `kiln synth` for EAGLE-3 heads: a head directory of the published format
// (model/eagle3_head.h) with random weights of a head config.json's shapes, for tests and
// benchmarks of the drafting machinery. Writes config.json (torch_dtype set) and
// model.safetensors: the layer's matrices N(0, stddev) and norms 1 + N(0, stddev) from
// weight_rng.h, no embedding (the head shares the target's, as the published heads do), and a
// draft vocabulary of draft_vocab_size distinct target ids drawn from the seed (d2t as I64
// offsets, t2d as BOOL), always including the ids below draft_vocab_size / 8 so that common
// low ids (special tokens, bytes) are draftable.
#pragma once

#include <cstdint>
#include <filesystem>

#include "base/status.h"
#include "model/eagle3_head.h"
#include "tensor/dtype.h"

namespace kiln {

struct SynthEagle3HeadOptions {
  std::filesystem::path config_path;  // the head's config.json (architectures: LlamaForCausalLMEagle3)
  std::filesystem::path out_dir;
  uint64_t seed = 0;
  DType dtype = DType::kBF16;
  double stddev = 0.02;
};

struct SynthEagle3HeadReport {
  uint64_t weight_bytes = 0;
  double seconds = 0;
};

// True when the config.json text names an EAGLE-3 head (synth's dispatch).
bool is_eagle3_head_config(const std::string& json_text);

// The head's config.json checked on its own (the target's layer count is checked when the head
// is loaded for one); errors name the file and field.
Result<Eagle3HeadConfig> load_eagle3_head_config_alone(const std::filesystem::path& config_path);

Result<SynthEagle3HeadReport> synth_eagle3_head(const SynthEagle3HeadOptions& options);

}  // namespace kiln
