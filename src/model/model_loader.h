// Loads a Hugging Face model directory (config.json + safetensors) into ModelWeights: views into
// the memory-mapped files, each checked against the config (name, dtype, shape). Missing and
// unexpected tensors are errors naming the file and the tensor.
//
//   KILN_ASSIGN_OR_RETURN(std::unique_ptr<LoadedModel> model, load_model(dir));
//   const TensorView& w = model->weights.layers[0].q_proj;  // bf16/f16/f32, HF shape
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "base/status.h"
#include "model/checkpoint.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace kiln {

struct LoadOptions {
  // Reads every page once (with a progress bar) so the first forward pass does not stall on
  // page faults; off for tests and tools that read a few tensors.
  bool prefault = true;
  bool show_progress = true;
  // --quantization: "fp8" quantizes a bf16/f16/f32 checkpoint's linears at load (the backend does
  // it: model/quant/); empty or "none" runs the checkpoint as it is (FP8 checkpoints included).
  std::string quantization;
};

struct LoadedModel {
  ModelConfig config;    // config.quantization: the checkpoint's, or online FP8 from --quantization
  ModelWeights weights;  // views into checkpoint's mappings
  std::unique_ptr<Checkpoint> checkpoint;  // owns the mappings; outlives nothing but this
  int64_t weight_bytes = 0;  // bytes of the tensors the weights view (lm_head counted once if tied)
};

Result<std::unique_ptr<LoadedModel>> load_model(const std::filesystem::path& model_dir,
                                                const LoadOptions& options = {});

// The checking half of load_model, for a checkpoint already open.
Result<ModelWeights> map_model_weights(const ModelConfig& config, const Checkpoint& checkpoint);

}  // namespace kiln
