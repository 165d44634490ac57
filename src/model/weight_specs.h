// The tensors a Llama/Qwen2 checkpoint holds for a config, with Hugging Face names and shapes
// (out_features first). The loader checks a checkpoint against this list; synth writes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"

namespace kiln {

// How synth initialises a tensor: matrices and biases N(0, std), norms 1 + N(0, std).
enum class WeightKind { kMatrix, kBias, kNorm };

struct WeightSpec {
  std::string name;            // "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;  // HF shape, e.g. [intermediate, hidden]
  WeightKind kind = WeightKind::kMatrix;
};

// In HF state-dict order: embed_tokens, each layer, norm, lm_head (left out when tied).
std::vector<WeightSpec> model_weight_specs(const ModelConfig& config);

// Tensors some checkpoints carry that the model does not use (rotary inv_freq buffers).
bool is_ignorable_tensor(const std::string& name);

}  // namespace kiln
