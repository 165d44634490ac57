// The FP8 KV cache's per-layer scales (value = code x scale, one scale per tensor and layer, as
// vLLM's fp8 cache): from the checkpoint when it was calibrated for one (compressed-tensors
// kv_cache_scheme: each layer's self_attn.k_scale and v_scale), calculated from the first prompt
// batch with --calculate-kv-scales, else 1.0; and what the backends log about them.
#pragma once

#include <vector>

#include "base/status.h"
#include "model/model_weights.h"

namespace kiln {

// Per layer (k_scale, v_scale) from the weights; empty when the checkpoint has none. A layer with
// one but not the other, a scale that is not one positive finite number, is an error naming it.
Result<std::vector<float>> kv_scales_from_weights(const ModelWeights& weights);

// "KV cache scales calculated from the first prompt batch: k 0.0213..0.0871, v ..." at start-up.
void log_calculated_kv_scales(const std::vector<float>& scales);

// The one warning a backend logs when a cache write first clips a value beyond +-448 x scale.
void warn_kv_cache_saturation();

}  // namespace kiln
