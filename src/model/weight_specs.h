// The tensors a Llama/Qwen2 checkpoint holds for a config, with Hugging Face names and shapes
// (out_features first). The loader checks a checkpoint against this list; synth writes it. An FP8
// checkpoint (config.quantization from config.json) holds its quantized linears as F8_E4M3 codes
// with their scale tensors next to them (model/quant/quantization_config.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/model_config.h"

namespace kiln {

// How synth initialises a tensor: matrices and biases N(0, std), norms 1 + N(0, std); FP8
// matrices are the matrix they quantize, scales follow from it (model/quant/).
enum class WeightKind {
  kMatrix,
  kBias,
  kNorm,
  kFp8Matrix,    // F8_E4M3 codes [out, in]
  kWeightScale,  // of the kFp8Matrix `scale_of`: [out, 1] per channel, [1] per tensor, blocks
  kInputScale,   // static activation scale of `scale_of`'s linear: [1]
  kKvCacheScale,  // a layer's self_attn.k_scale or v_scale (kv_cache_scheme): [1]
};

struct WeightSpec {
  std::string name;            // "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;  // HF shape, e.g. [intermediate, hidden]
  WeightKind kind = WeightKind::kMatrix;
  // A dtype the format fixes (F8_E4M3 codes, the fp8 format's F32 block scales); otherwise the
  // checkpoint's (synth's --dtype).
  std::optional<DType> dtype;
  std::string scale_of;  // kWeightScale / kInputScale: the weight's name
};

// In HF state-dict order: embed_tokens, each layer, norm, lm_head (left out when tied). Each
// quantized linear's weight is followed by its scale tensors.
std::vector<WeightSpec> model_weight_specs(const ModelConfig& config);

// Tensors some checkpoints carry that the model does not use (rotary inv_freq buffers).
bool is_ignorable_tensor(const std::string& name);

}  // namespace kiln
