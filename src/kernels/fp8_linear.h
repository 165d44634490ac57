// FP8 (E4M3) linear layers: the weight and scale layouts both backends share, the quantization
// rule they implement bit for bit, and the CPU twins (kiln::cpu) of the CUDA kernels
// (kernels/cuda/fp8_linear_cuda.h, which take the same arguments with bf16 activations and a
// stream).
//
// A weight is codes q[n, k] (HF's [out_features, in_features]) and f32 scales, w = q * scale:
// one scale per output row (per-tensor checkpoints are broadcast to this at load), or one per
// 128 x 128 block. Activations are either left alone (W8A16, "weight-only") or quantized by the
// one rule below, dynamically per token (per token and 128 columns with block weights) or with the
// checkpoint's static scale; the product of codes is accumulated in f32 and scaled after:
//   y[t, j] = (sum_i qx[t, i] qw[j, i]) * sx[t] * sw[j]                       (per channel)
//   y[t, j] = sum_g (sum_{i in g} qx[t, i] qw[j, i]) * sx[g, t] * sw[j/128, g]  (blocks)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/cpu/cpu_context.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace kiln {

// Columns per activation group and edge of a weight block.
inline constexpr int kFp8GroupSize = 128;
// The smallest scale dynamic quantization gives (vLLM's 1 / (448 * 512)), so that a row of
// zeros divides by something finite.
inline constexpr float kFp8MinScale = 1.0f / (448.0f * 512.0f);

enum class Fp8WeightScaling {
  kPerChannel,  // weight_scale [n]
  kBlock,       // weight_scale [ceil(n/128), ceil(k/128)], row-major
};

enum class Fp8ActivationQuant {
  kNone,                  // W8A16: activations stay f32 (CPU) / bf16 (CUDA)
  kDynamicPerToken,       // scales [m]: fp8_scale_for_absmax(max |x[t, :]|)
  kStaticPerTensor,       // scales [m], every one input_scale[0]
  kDynamicPerTokenGroup,  // scales [ceil(k/128), m] (tokens contiguous, as cuBLASLt's 1x128
                          // scaling reads them): fp8_scale_for_absmax over each 128 columns
};

// A FP8 linear layer's tensors (host pointers for the CPU twins, device pointers for CUDA).
struct Fp8Weight {
  const uint8_t* weight = nullptr;      // [n, k] E4M3 codes
  const float* weight_scale = nullptr;  // see Fp8WeightScaling
  const float* input_scale = nullptr;   // [1], kStaticPerTensor only
  Fp8WeightScaling weight_scaling = Fp8WeightScaling::kPerChannel;
  Fp8ActivationQuant activation = Fp8ActivationQuant::kDynamicPerToken;
  int n = 0;  // output features
  int k = 0;  // input features

  bool empty() const { return weight == nullptr; }
  // ceil(k / 128): column blocks of the weight, column groups of the activations.
  int k_blocks() const { return (k + kFp8GroupSize - 1) / kFp8GroupSize; }
  int n_blocks() const { return (n + kFp8GroupSize - 1) / kFp8GroupSize; }
  size_t weight_scale_count() const {
    return weight_scaling == Fp8WeightScaling::kBlock ? static_cast<size_t>(n_blocks()) * k_blocks()
                                                      : static_cast<size_t>(n);
  }
};

// How many f32 scales quantize_activations_fp8 writes for m rows of k columns.
inline size_t fp8_activation_scale_count(Fp8ActivationQuant quant, int m, int k) {
  switch (quant) {
    case Fp8ActivationQuant::kNone: return 0;
    case Fp8ActivationQuant::kDynamicPerToken:
    case Fp8ActivationQuant::kStaticPerTensor: return static_cast<size_t>(m);
    case Fp8ActivationQuant::kDynamicPerTokenGroup:
      return static_cast<size_t>(m) * static_cast<size_t>((k + kFp8GroupSize - 1) / kFp8GroupSize);
  }
  return 0;
}

// The quantization rule, identical on the host and the device (IEEE division, round to nearest
// even, saturation to +-448; fmax ignores a NaN absmax as fmaxf does).
inline float fp8_scale_for_absmax(float absmax) { return std::fmax(absmax / kFp8E4M3Max, kFp8MinScale); }
inline uint8_t fp8_quantize(float x, float scale) { return f32_to_fp8_e4m3(x / scale); }

namespace cpu {

// Quantizes the rows of x as `quant` says (kNone writes nothing): codes q[m, k] and scales (see
// Fp8ActivationQuant for their count and layout). input_scale: [1] for kStaticPerTensor.
void quantize_activations_fp8(const CpuContext& ctx, const float* x /*[m, k]*/, int m, int k,
                              Fp8ActivationQuant quant, const float* input_scale, uint8_t* q /*[m, k]*/,
                              float* scales);

// y = x . W^T (+ bias) for a FP8 weight: activations quantized as w.activation says (or used as
// they are for kNone), the products of codes summed in f32 in a fixed order (per 128-column
// group for block weights) and scaled as the header says. bias: [n] bf16/f16/f32 or empty. Every
// element's arithmetic is independent of m (batch invariance).
void fp8_linear(const CpuContext& ctx, const float* x /*[m, k]*/, int m, const Fp8Weight& w, const TensorView& bias,
                float* y /*[m, n]*/);

// Online FP8 of one weight: scales[j] = fp8_scale_for_absmax(max |w[j, :]|), q[j, i] =
// fp8_quantize(w[j, i], scales[j]). weight: [n, k] bf16, f16 or f32.
void quantize_weight_rows_fp8(const CpuContext& ctx, const TensorView& weight, uint8_t* q /*[n, k]*/,
                              float* scales /*[n]*/);

// The weight-only path's dequantization: out[j, i] = float(q[j, i]) * scale (one f32 multiply,
// so the CUDA twin's bf16 output is this rounded to bf16).
void dequantize_fp8_weight(const CpuContext& ctx, const Fp8Weight& w, float* out /*[n, k]*/);

}  // namespace cpu
}  // namespace kiln
