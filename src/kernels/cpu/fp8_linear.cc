// The CPU twins of the FP8 kernels (kernels/fp8_linear.h). Codes are widened through a 256-entry
// table; dot products keep 8 interleaved partial sums (the order never depends on m or on the
// thread split, so results are batch invariant). Fast enough for the CPU backend's small models
// and the tests; the GPU is where FP8 pays.
#include "kernels/fp8_linear.h"

#include <algorithm>
#include <array>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/thread_pool.h"

namespace kiln::cpu {
namespace {

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> values{};
    for (int code = 0; code < 256; ++code) values[static_cast<size_t>(code)] = fp8_e4m3_to_f32(static_cast<uint8_t>(code));
    return values;
  }();
  return table;
}

float element(const TensorView& view, int64_t index) {
  switch (view.dtype) {
    case DType::kF32: return static_cast<const float*>(view.data)[index];
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(view.data)[index]);
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(view.data)[index]);
    default: KILN_CHECK(false) << "FP8 kernels read bf16, f16 or f32, not " << dtype_name(view.dtype);
  }
  return 0.0f;
}

// sum_i a[i] * table[w[i]] over [0, count) with 8 partial sums, reduced in a fixed tree.
float dot_codes(const float* a, const uint8_t* w, int count, const std::array<float, 256>& table) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= count; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * table[w[i + l]];
  }
  float sum = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
  for (; i < count; ++i) sum += a[i] * table[w[i]];
  return sum;
}

}  // namespace

void quantize_activations_fp8(const CpuContext& ctx, const float* x, int m, int k, Fp8ActivationQuant quant,
                              const float* input_scale, uint8_t* q, float* scales) {
  if (quant == Fp8ActivationQuant::kNone || m <= 0) return;
  KILN_CHECK(quant != Fp8ActivationQuant::kStaticPerTensor || input_scale != nullptr)
      << "static FP8 activations need input_scale";
  const int groups = (k + kFp8GroupSize - 1) / kFp8GroupSize;
  ctx.pool->parallel_for(
      m,
      [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const float* row = x + t * k;
          uint8_t* codes = q + t * k;
          if (quant == Fp8ActivationQuant::kDynamicPerTokenGroup) {
            for (int g = 0; g < groups; ++g) {
              const int first = g * kFp8GroupSize, last = std::min(k, first + kFp8GroupSize);
              float absmax = 0.0f;
              for (int i = first; i < last; ++i) absmax = std::fmax(absmax, std::fabs(row[i]));
              const float scale = fp8_scale_for_absmax(absmax);
              scales[static_cast<int64_t>(g) * m + t] = scale;
              for (int i = first; i < last; ++i) codes[i] = fp8_quantize(row[i], scale);
            }
            continue;
          }
          float scale = 0.0f;
          if (quant == Fp8ActivationQuant::kStaticPerTensor) {
            scale = input_scale[0];
          } else {
            float absmax = 0.0f;
            for (int i = 0; i < k; ++i) absmax = std::fmax(absmax, std::fabs(row[i]));
            scale = fp8_scale_for_absmax(absmax);
          }
          scales[t] = scale;
          for (int i = 0; i < k; ++i) codes[i] = fp8_quantize(row[i], scale);
        }
      },
      static_cast<int64_t>(k) * 4);
}

void fp8_linear(const CpuContext& ctx, const float* x, int m, const Fp8Weight& w, const TensorView& bias, float* y) {
  KILN_CHECK(w.weight != nullptr && w.weight_scale != nullptr) << "fp8_linear: weight or scales missing";
  KILN_CHECK(bias.empty() || bias.num_elements() == w.n) << "fp8_linear: bias of " << bias.num_elements()
                                                         << " elements for n = " << w.n;
  if (m <= 0 || w.n <= 0) return;
  const int k = w.k, n = w.n, groups = w.k_blocks();
  const std::array<float, 256>& table = fp8_table();
  const bool quantized = w.activation != Fp8ActivationQuant::kNone;
  const bool blocks = w.weight_scaling == Fp8WeightScaling::kBlock;
  KILN_CHECK(!blocks || w.activation == Fp8ActivationQuant::kNone ||
             w.activation == Fp8ActivationQuant::kDynamicPerTokenGroup)
      << "fp8_linear: block weights take per-token-group activations or none";
  KILN_CHECK(blocks || w.activation != Fp8ActivationQuant::kDynamicPerTokenGroup)
      << "fp8_linear: per-token-group activations need block weights";

  // The activations the products read: the codes widened (quantized) or x itself (kNone).
  std::vector<float> x_codes;
  std::vector<float> x_scales;
  const float* a = x;
  if (quantized) {
    std::vector<uint8_t> codes(static_cast<size_t>(m) * k);
    x_scales.resize(fp8_activation_scale_count(w.activation, m, k));
    quantize_activations_fp8(ctx, x, m, k, w.activation, w.input_scale, codes.data(), x_scales.data());
    x_codes.resize(codes.size());
    for (size_t i = 0; i < codes.size(); ++i) x_codes[i] = table[codes[i]];
    a = x_codes.data();
  }
  std::vector<float> bias_f32(static_cast<size_t>(n), 0.0f);
  for (int j = 0; j < n && !bias.empty(); ++j) bias_f32[static_cast<size_t>(j)] = element(bias, j);

  ctx.pool->parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
          const uint8_t* row = w.weight + j * k;
          for (int t = 0; t < m; ++t) {
            const float* at = a + static_cast<int64_t>(t) * k;
            float out = 0.0f;
            if (!blocks) {
              out = dot_codes(at, row, k, table);
              if (quantized) out *= x_scales[static_cast<size_t>(t)];
              out *= w.weight_scale[j];
            } else {
              const float* block_scales = w.weight_scale + (j / kFp8GroupSize) * groups;
              for (int g = 0; g < groups; ++g) {
                const int first = g * kFp8GroupSize, count = std::min(k, first + kFp8GroupSize) - first;
                float partial = dot_codes(at + first, row + first, count, table);
                if (quantized) partial *= x_scales[static_cast<size_t>(g) * m + t];
                out += partial * block_scales[g];
              }
            }
            y[static_cast<int64_t>(t) * n + j] = out + bias_f32[static_cast<size_t>(j)];
          }
        }
      },
      static_cast<int64_t>(m) * k);
}

void quantize_weight_rows_fp8(const CpuContext& ctx, const TensorView& weight, uint8_t* q, float* scales) {
  KILN_CHECK(weight.shape.size() == 2) << "quantize_weight_rows_fp8: weight " << shape_to_string(weight.shape);
  const int64_t n = weight.dim(0), k = weight.dim(1);
  ctx.pool->parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(k));
        for (int64_t j = begin; j < end; ++j) {
          float absmax = 0.0f;
          for (int64_t i = 0; i < k; ++i) {
            row[static_cast<size_t>(i)] = element(weight, j * k + i);
            absmax = std::fmax(absmax, std::fabs(row[static_cast<size_t>(i)]));
          }
          const float scale = fp8_scale_for_absmax(absmax);
          scales[j] = scale;
          for (int64_t i = 0; i < k; ++i) q[j * k + i] = fp8_quantize(row[static_cast<size_t>(i)], scale);
        }
      },
      k * 2);
}

void dequantize_fp8_weight(const CpuContext& ctx, const Fp8Weight& w, float* out) {
  const std::array<float, 256>& table = fp8_table();
  const int k = w.k, groups = w.k_blocks();
  ctx.pool->parallel_for(
      w.n,
      [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
          for (int i = 0; i < k; ++i) {
            const float scale = w.weight_scaling == Fp8WeightScaling::kBlock
                                    ? w.weight_scale[(j / kFp8GroupSize) * groups + i / kFp8GroupSize]
                                    : w.weight_scale[j];
            out[j * k + i] = table[w.weight[j * k + i]] * scale;
          }
        }
      },
      k);
}

}  // namespace kiln::cpu
