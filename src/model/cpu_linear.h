// A linear layer as the CPU backend runs it: a bf16/f16/f32 weight read in place, or an FP8
// one (an FP8 checkpoint's codes read in place with its scales widened to f32, or the codes and
// scales online FP8 quantized at load, owned here). run() dispatches to cpu::matmul or
// cpu::fp8_linear.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/fp8_linear.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace kiln {

class CpuLinear {
 public:
  CpuLinear() = default;
  CpuLinear(const CpuLinear&) = delete;
  CpuLinear& operator=(const CpuLinear&) = delete;
  CpuLinear(CpuLinear&&) = default;
  CpuLinear& operator=(CpuLinear&&) = default;

  // The linear `module` ("model.layers.0.mlp.up_proj") of `config`: FP8 when config.quantization
  // quantizes it (from the checkpoint's codes, or quantized here for online FP8), else `weight`.
  static Result<CpuLinear> create(const cpu::CpuContext& ctx, const ModelConfig& config, const std::string& module,
                                  const TensorView& weight, const LinearScales& scales);

  // y[m, n] = x[m, k] . W^T (+ bias).
  void run(const cpu::CpuContext& ctx, const float* x, int m, const TensorView& bias, float* y) const;
  bool is_fp8() const { return !fp8_.empty(); }
  const Fp8Weight& fp8() const { return fp8_; }

 private:
  TensorView dense_;              // [n, k] bf16/f16/f32 when not FP8
  Fp8Weight fp8_;                 // views into the checkpoint or the vectors below
  std::vector<uint8_t> codes_;    // online FP8: [n, k]
  std::vector<float> weight_scale_;
  float input_scale_ = 0;
};

}  // namespace kiln
