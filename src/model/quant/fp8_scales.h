// A quantized linear's checkpoint scales in the form the FP8 kernels read (kernels/fp8_linear.h):
// f32, one per output row (a per-tensor scale is repeated for every row, so fused projections
// with different scales still run as one GEMM) or one per 128 x 128 block, plus the static
// activation scale. Shared by the CPU backend and the CUDA upload.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "kernels/fp8_linear.h"
#include "model/model_weights.h"
#include "model/quant/quantization_config.h"

namespace kiln {

struct Fp8ScalesF32 {
  std::vector<float> weight_scale;   // [n] or [ceil(n/128), ceil(k/128)]
  std::optional<float> input_scale;  // static activations
};

// Reads and checks the scales of the FP8 linear `name` ("model.layers.0.mlp.up_proj") whose
// weight is `weight` ([n, k] F8_E4M3). Errors name the tensor: a scale that is not positive and
// finite, a static scheme without input_scale.
Result<Fp8ScalesF32> fp8_scales_f32(const QuantizationConfig& quantization, const TensorView& weight,
                                    const LinearScales& scales, const std::string& name);

// The kernels' names for a config's scheme.
Fp8WeightScaling fp8_weight_scaling(const QuantizationConfig& quantization);
Fp8ActivationQuant fp8_activation_quant(const QuantizationConfig& quantization);

}  // namespace kiln
