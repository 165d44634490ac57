// How a checkpoint's linear layers are quantized: config.json's `quantization_config` (or the
// --quantization flag's online FP8) read into one plain struct. kiln runs FP8 E4M3 in three
// formats, the ones published DeepSeek-R1-Distill FP8 checkpoints and vLLM use:
//
// - compressed-tensors "float-quantized" (llm-compressor's FP8 / FP8-dynamic / FP8 weight-only):
//   per linear `weight` F8_E4M3 [out, in] and `weight_scale` ([out, 1] per channel, [] or [1] per
//   tensor), `input_scale` ([] or [1]) when activations are static; activations dynamic per token,
//   static per tensor, or not quantized (weight-only); `ignore` lists the linears kept in bf16.
// - `quant_method: fp8` (DeepSeek-V3 / HF FineGrainedFP8, vLLM's serialized fp8): with
//   `weight_block_size` [128, 128], `weight` F8_E4M3 and `weight_scale_inv` F32
//   [ceil(out/128), ceil(in/128)] (dequantized weight = code x scale, despite the name), dynamic
//   activations per token and 128-column group; without it, a per-tensor `weight_scale` and a
//   static `input_scale` or dynamic activations.
// - online (`--quantization fp8` on a bf16/f16/f32 checkpoint): each weight row gets
//   scale = max(absmax / 448, kFp8MinScale) at load, activations are dynamic per token; lm_head
//   stays in the checkpoint's dtype, as vLLM's online FP8 leaves it.
//
// Anything else (AWQ, GPTQ, bitsandbytes, int8 compressed-tensors, ...) is an error naming the
// method and what kiln supports. Module names are HF's: "model.layers.3.self_attn.q_proj",
// "lm_head".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/status.h"

namespace kiln {

enum class QuantMethod {
  kNone,               // bf16/f16/f32 weights as in the checkpoint
  kCompressedTensors,  // quant_method "compressed-tensors", format float-quantized
  kFp8,                // quant_method "fp8"
  kOnlineFp8,          // --quantization fp8 on an unquantized checkpoint
};

enum class WeightScaleKind {
  kTensor,   // one scale per weight tensor
  kChannel,  // one per output row
  kBlock,    // one per 128 x 128 block
};

enum class ActivationScheme {
  kNone,                   // weight-only (W8A16): activations stay in bf16
  kDynamicPerToken,        // scale per token from its absmax at run time
  kStaticPerTensor,        // the checkpoint's input_scale
  kDynamicPerTokenGroup,   // scale per token and 128 columns (the block format's)
};

struct QuantizationConfig {
  QuantMethod method = QuantMethod::kNone;
  WeightScaleKind weight_scale = WeightScaleKind::kChannel;
  ActivationScheme activation = ActivationScheme::kDynamicPerToken;
  int block_rows = 0;  // weight_block_size[0] (kBlock only: 128)
  int block_cols = 0;  // weight_block_size[1] (kBlock only: 128)
  // Which linears are quantized: compressed-tensors `targets` (class "Linear", module names or
  // "re:" regexes) minus `ignore`; the fp8 format's `modules_to_not_convert` / `ignored_layers`.
  std::vector<std::string> targets;
  std::vector<std::string> ignore;
  // compressed-tensors kv_cache_scheme (FP8, per tensor): the checkpoint holds each layer's
  // self_attn.k_scale and v_scale, calibrated for --kv-cache-dtype fp8.
  bool kv_cache_scales = false;

  bool enabled() const { return method != QuantMethod::kNone; }
  // Whether the checkpoint's files hold FP8 weights and scales (not so for online FP8, which
  // quantizes a bf16/f16/f32 checkpoint as it loads).
  bool checkpoint_is_quantized() const {
    return method == QuantMethod::kCompressedTensors || method == QuantMethod::kFp8;
  }
  // Whether the linear `module_name` (e.g. "model.layers.0.mlp.down_proj") holds FP8 weights.
  bool is_quantized(const std::string& module_name) const;
  // For logs and errors: "compressed-tensors FP8 (per-channel weights, dynamic per-token
  // activations)".
  std::string describe() const;
  // The tensor next to `<module>.weight` that holds the weight scale: "weight_scale" or
  // "weight_scale_inv" (the fp8 block format).
  const char* weight_scale_suffix() const;
};

// What kiln supports, for errors: "compressed-tensors (float-quantized FP8), fp8 (...)".
std::string supported_quantization_methods();

// Reads `quantization_config` from config.json's root object; absent or null gives kNone.
// `source` names the file in errors: "config.json: quantization_config.quant_method 'awq' is not
// supported; kiln runs ...".
Result<QuantizationConfig> parse_quantization_config(const nlohmann::json& root, const std::string& source);

// The online FP8 scheme of --quantization fp8: per-channel weights, dynamic per-token
// activations, lm_head left out.
QuantizationConfig online_fp8_quantization();

// Applies --quantization `flag` ("fp8", or "" / "none" for none) to a checkpoint's scheme. fp8
// over an unquantized checkpoint is online FP8; over an FP8 checkpoint it changes nothing (the
// weights already are FP8); anything else is an error naming the flag.
Result<QuantizationConfig> apply_quantization_flag(const QuantizationConfig& checkpoint, const std::string& flag);

}  // namespace kiln
