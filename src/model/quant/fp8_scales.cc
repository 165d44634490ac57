#include "model/quant/fp8_scales.h"

#include <cmath>
#include <cstring>

namespace kiln {
namespace {

float read_float(const TensorView& view, int64_t index) {
  const auto* bytes = static_cast<const uint8_t*>(view.data);
  switch (view.dtype) {
    case DType::kF32: {
      float value;
      std::memcpy(&value, bytes + 4 * index, 4);
      return value;
    }
    case DType::kBF16:
    case DType::kF16: {
      uint16_t bits;
      std::memcpy(&bits, bytes + 2 * index, 2);
      return view.dtype == DType::kBF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
    }
    case DType::kF8E4M3: break;
  }
  return NAN;
}

Status check_positive(const std::vector<float>& values, const std::string& tensor) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!(values[i] > 0.0f) || !std::isfinite(values[i])) {
      return Status::error(tensor + " holds " + std::to_string(values[i]) + " at index " + std::to_string(i) +
                           "; FP8 scales must be positive and finite");
    }
  }
  return ok_status();
}

}  // namespace

Fp8WeightScaling fp8_weight_scaling(const QuantizationConfig& quantization) {
  return quantization.weight_scale == WeightScaleKind::kBlock ? Fp8WeightScaling::kBlock
                                                              : Fp8WeightScaling::kPerChannel;
}

Fp8ActivationQuant fp8_activation_quant(const QuantizationConfig& quantization) {
  switch (quantization.activation) {
    case ActivationScheme::kNone: return Fp8ActivationQuant::kNone;
    case ActivationScheme::kDynamicPerToken: return Fp8ActivationQuant::kDynamicPerToken;
    case ActivationScheme::kStaticPerTensor: return Fp8ActivationQuant::kStaticPerTensor;
    case ActivationScheme::kDynamicPerTokenGroup: return Fp8ActivationQuant::kDynamicPerTokenGroup;
  }
  return Fp8ActivationQuant::kNone;
}

Result<Fp8ScalesF32> fp8_scales_f32(const QuantizationConfig& quantization, const TensorView& weight,
                                    const LinearScales& scales, const std::string& name) {
  const std::string scale_name = name + "." + quantization.weight_scale_suffix();
  if (weight.dtype != DType::kF8E4M3 || weight.shape.size() != 2) {
    return Status::error(name + ".weight: expected F8_E4M3 [out, in], got " + std::string(dtype_name(weight.dtype)) +
                         " " + shape_to_string(weight.shape));
  }
  if (scales.weight_scale.empty()) return Status::error(scale_name + " is missing");
  const int64_t n = weight.dim(0), k = weight.dim(1);
  Fp8ScalesF32 out;
  const int64_t count = scales.weight_scale.num_elements() == 0 ? 1 : scales.weight_scale.num_elements();
  std::vector<float> stored(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) stored[static_cast<size_t>(i)] = read_float(scales.weight_scale, i);
  KILN_RETURN_IF_ERROR(check_positive(stored, scale_name));
  switch (quantization.weight_scale) {
    case WeightScaleKind::kTensor:
      if (count != 1) return Status::error(scale_name + ": expected one per-tensor scale, got " + std::to_string(count));
      out.weight_scale.assign(static_cast<size_t>(n), stored[0]);
      break;
    case WeightScaleKind::kChannel:
      if (count != n) {
        return Status::error(scale_name + ": expected " + std::to_string(n) + " per-channel scales, got " +
                             std::to_string(count));
      }
      out.weight_scale = std::move(stored);
      break;
    case WeightScaleKind::kBlock: {
      const int64_t blocks = ((n + kFp8GroupSize - 1) / kFp8GroupSize) * ((k + kFp8GroupSize - 1) / kFp8GroupSize);
      if (count != blocks) {
        return Status::error(scale_name + ": expected " + std::to_string(blocks) + " block scales, got " +
                             std::to_string(count));
      }
      out.weight_scale = std::move(stored);
      break;
    }
  }
  if (quantization.activation == ActivationScheme::kStaticPerTensor) {
    if (scales.input_scale.empty()) return Status::error(name + ".input_scale is missing (static activations)");
    std::vector<float> input = {read_float(scales.input_scale, 0)};
    KILN_RETURN_IF_ERROR(check_positive(input, name + ".input_scale"));
    out.input_scale = input[0];
  }
  return out;
}

}  // namespace kiln
