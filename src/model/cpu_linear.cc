#include "model/cpu_linear.h"

#include "kernels/ops.h"
#include "model/quant/fp8_scales.h"

namespace kiln {

Result<CpuLinear> CpuLinear::create(const cpu::CpuContext& ctx, const ModelConfig& config, const std::string& module,
                                    const TensorView& weight, const LinearScales& scales) {
  CpuLinear linear;
  const QuantizationConfig& q = config.quantization;
  if (!q.is_quantized(module) || weight.shape.size() != 2) {
    linear.dense_ = weight;
    return linear;
  }
  const int64_t n = weight.dim(0), k = weight.dim(1);
  Fp8Weight& fp8 = linear.fp8_;
  fp8.n = static_cast<int>(n);
  fp8.k = static_cast<int>(k);
  fp8.weight_scaling = fp8_weight_scaling(q);
  fp8.activation = fp8_activation_quant(q);
  if (q.checkpoint_is_quantized()) {
    KILN_ASSIGN_OR_RETURN(Fp8ScalesF32 converted, fp8_scales_f32(q, weight, scales, module));
    linear.weight_scale_ = std::move(converted.weight_scale);
    if (converted.input_scale) linear.input_scale_ = *converted.input_scale;
    fp8.weight = static_cast<const uint8_t*>(weight.data);
  } else {
    // Online FP8: the checkpoint's weight quantized per row here.
    linear.codes_.resize(static_cast<size_t>(n * k));
    linear.weight_scale_.resize(static_cast<size_t>(n));
    cpu::quantize_weight_rows_fp8(ctx, weight, linear.codes_.data(), linear.weight_scale_.data());
    fp8.weight = linear.codes_.data();
  }
  // Vectors keep their buffers when the CpuLinear moves, so the views stay valid.
  fp8.weight_scale = linear.weight_scale_.data();
  return linear;
}

void CpuLinear::run(const cpu::CpuContext& ctx, const float* x, int m, const TensorView& bias, float* y) const {
  if (!is_fp8()) {
    cpu::matmul(ctx, x, m, static_cast<int>(dense_.dim(1)), dense_, bias, y);
    return;
  }
  Fp8Weight weight = fp8_;
  weight.input_scale = &input_scale_;
  cpu::fp8_linear(ctx, x, m, weight, bias, y);
}

}  // namespace kiln
