#include "model/kv_cache_scales.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "base/log.h"

namespace kiln {
namespace {

// A scale tensor's one value as f32 (scalars [] and [1] of f32, bf16 or f16).
Result<float> scalar_value(const TensorView& view, const std::string& name) {
  const int64_t elements = view.shape.empty() ? 1 : view.num_elements();
  if (elements != 1) {
    return Status::error("tensor " + name + " has shape " + shape_to_string(view.shape) +
                         "; kiln's FP8 KV cache takes one scale per tensor ([] or [1]), not per head");
  }
  float value = 0;
  switch (view.dtype) {
    case DType::kF32: std::memcpy(&value, view.data, sizeof(float)); break;
    case DType::kBF16: {
      uint16_t bits;
      std::memcpy(&bits, view.data, sizeof(bits));
      value = bf16_to_f32(bits);
      break;
    }
    case DType::kF16: {
      uint16_t bits;
      std::memcpy(&bits, view.data, sizeof(bits));
      value = f16_to_f32(bits);
      break;
    }
    default:
      return Status::error("tensor " + name + " has dtype " + std::string(dtype_name(view.dtype)) +
                           "; KV cache scales are f32, bf16 or f16");
  }
  if (!(value > 0.0f) || !std::isfinite(value)) {
    return Status::error("tensor " + name + " holds " + std::to_string(value) + "; a KV cache scale must be positive");
  }
  return value;
}

}  // namespace

Result<std::vector<float>> kv_scales_from_weights(const ModelWeights& weights) {
  std::vector<float> scales;
  int with_scales = 0;
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    const LayerWeights& layer = weights.layers[l];
    const std::string prefix = "model.layers." + std::to_string(l) + ".self_attn.";
    if (layer.k_cache_scale.empty() != layer.v_cache_scale.empty()) {
      return Status::error("layer " + std::to_string(l) + " has " +
                           (layer.k_cache_scale.empty() ? prefix + "v_scale without k_scale" : prefix + "k_scale without v_scale"));
    }
    if (layer.k_cache_scale.empty()) continue;
    ++with_scales;
    KILN_ASSIGN_OR_RETURN(const float k, scalar_value(layer.k_cache_scale, prefix + "k_scale"));
    KILN_ASSIGN_OR_RETURN(const float v, scalar_value(layer.v_cache_scale, prefix + "v_scale"));
    scales.push_back(k);
    scales.push_back(v);
  }
  if (with_scales == 0) return std::vector<float>{};
  if (with_scales != static_cast<int>(weights.layers.size())) {
    return Status::error("the checkpoint has KV cache scales for " + std::to_string(with_scales) + " of " +
                         std::to_string(weights.layers.size()) + " layers; every layer needs its k_scale and v_scale");
  }
  return scales;
}

void log_calculated_kv_scales(const std::vector<float>& scales) {
  float k_low = INFINITY, k_high = 0, v_low = INFINITY, v_high = 0;
  for (size_t i = 0; i + 1 < scales.size(); i += 2) {
    k_low = std::min(k_low, scales[i]), k_high = std::max(k_high, scales[i]);
    v_low = std::min(v_low, scales[i + 1]), v_high = std::max(v_high, scales[i + 1]);
  }
  KILN_LOG(Info) << "KV cache scales calculated from the first prompt batch (--calculate-kv-scales): k_scale "
                 << k_low << ".." << k_high << ", v_scale " << v_low << ".." << v_high << " over "
                 << scales.size() / 2 << " layers";
}

void warn_kv_cache_saturation() {
  KILN_LOG(Warning) << "FP8 KV cache: a key or value beyond +-448 x its scale was clipped (later clipping is not "
                       "reported). Serve a checkpoint calibrated with KV cache scales (kv_cache_scheme) or pass "
                       "--calculate-kv-scales";
}

}  // namespace kiln
