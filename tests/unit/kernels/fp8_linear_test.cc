// The CPU twins of the FP8 kernels: activation quantization follows the documented rule element
// for element, fp8_linear equals a double-precision product of the dequantized operands for every
// weight scaling and activation scheme, and its rows do not depend on the batch around them.
#include "kernels/fp8_linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "kernel_test_util.h"

namespace kiln::cpu {
namespace {

using testing::make_weight;
using testing::random_floats;

struct Fp8TestWeight {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  Fp8Weight view;
};

// Random codes (never NaN) with per-channel or block scales spread over two decades.
Fp8TestWeight make_fp8_weight(int n, int k, Fp8WeightScaling scaling, Fp8ActivationQuant activation, uint32_t seed) {
  Fp8TestWeight w;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 253);  // 0x7f/0xff are NaN; skip 0x7e..0x7f and use sign
  w.codes.resize(static_cast<size_t>(n) * k);
  for (uint8_t& c : w.codes) {
    const int value = code(rng);
    c = static_cast<uint8_t>((value % 126) | (value >= 126 ? 0x80 : 0));
  }
  w.view.weight_scaling = scaling;
  w.view.activation = activation;
  w.view.n = n;
  w.view.k = k;
  std::uniform_real_distribution<float> exponent(-3.0f, -1.0f);
  w.scales.resize(w.view.weight_scale_count());
  for (float& s : w.scales) s = std::pow(10.0f, exponent(rng));
  w.view.weight = w.codes.data();
  w.view.weight_scale = w.scales.data();
  return w;
}

double dequantized(const Fp8Weight& w, int j, int i) {
  const float scale = w.weight_scaling == Fp8WeightScaling::kBlock
                          ? w.weight_scale[(j / 128) * w.k_blocks() + i / 128]
                          : w.weight_scale[j];
  return static_cast<double>(fp8_e4m3_to_f32(w.weight[static_cast<size_t>(j) * w.k + i])) * scale;
}

class Fp8LinearTest : public ::testing::Test {
 protected:
  ThreadPool pool_{3};
  CpuContext ctx_{&pool_, Isa::kScalar};
};

TEST_F(Fp8LinearTest, DynamicPerTokenQuantizationFollowsTheRule) {
  const int m = 3, k = 300;
  std::vector<float> x = random_floats(static_cast<size_t>(m) * k, 5, -3.0f, 3.0f);
  for (int i = 0; i < k; ++i) x[static_cast<size_t>(2 * k + i)] = 0.0f;  // a row of zeros
  std::vector<uint8_t> q(x.size(), 0xaa);
  std::vector<float> scales(m, -1.0f);
  quantize_activations_fp8(ctx_, x.data(), m, k, Fp8ActivationQuant::kDynamicPerToken, nullptr, q.data(),
                           scales.data());
  for (int t = 0; t < m; ++t) {
    float absmax = 0;
    for (int i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(x[static_cast<size_t>(t * k + i)]));
    const float scale = std::max(absmax / 448.0f, kFp8MinScale);
    EXPECT_EQ(scales[static_cast<size_t>(t)], scale) << "row " << t;
    bool saw_max = false;
    for (int i = 0; i < k; ++i) {
      const size_t at = static_cast<size_t>(t * k + i);
      EXPECT_EQ(q[at], f32_to_fp8_e4m3(x[at] / scale)) << "row " << t << " column " << i;
      // Within half an E4M3 step (3 mantissa bits) of the value, relative to the row's range.
      EXPECT_LE(std::fabs(fp8_e4m3_to_f32(q[at]) * scale - x[at]), std::max(std::fabs(x[at]) / 16.0f, scale / 512.0f));
      saw_max = saw_max || (q[at] & 0x7f) == 0x7e;
    }
    EXPECT_EQ(saw_max, t != 2) << "the absmax element maps to +-448 (row " << t << ")";
  }
  EXPECT_EQ(scales[2], kFp8MinScale);
  for (int i = 0; i < k; ++i) EXPECT_EQ(q[static_cast<size_t>(2 * k + i)], 0);
}

TEST_F(Fp8LinearTest, StaticQuantizationSaturates) {
  const float input_scale = 0.01f;
  const std::vector<float> x = {1.0f, -1000.0f, 4.48f, 4.6f, 0.0001f};
  std::vector<uint8_t> q(x.size());
  std::vector<float> scales(1);
  quantize_activations_fp8(ctx_, x.data(), 1, 5, Fp8ActivationQuant::kStaticPerTensor, &input_scale, q.data(),
                           scales.data());
  EXPECT_EQ(scales[0], input_scale);
  EXPECT_EQ(fp8_e4m3_to_f32(q[0]), 96.0f);  // 1 / 0.01f = 99.99999: E4M3 has 96 and 104 there
  EXPECT_EQ(q[1], 0xfe);                     // -100000 saturates to -448
  EXPECT_EQ(q[2], 0x7e);
  EXPECT_EQ(q[3], 0x7e);
  EXPECT_EQ(q[4], f32_to_fp8_e4m3(0.0001f / 0.01f));
}

TEST_F(Fp8LinearTest, GroupQuantizationLaysScalesOutGroupMajor) {
  const int m = 2, k = 300;  // 3 groups, the last of 44 columns
  std::vector<float> x = random_floats(static_cast<size_t>(m) * k, 6);
  x[static_cast<size_t>(k + 260)] = 50.0f;  // token 1, group 2
  std::vector<uint8_t> q(x.size());
  std::vector<float> scales(fp8_activation_scale_count(Fp8ActivationQuant::kDynamicPerTokenGroup, m, k));
  ASSERT_EQ(scales.size(), 6u);
  quantize_activations_fp8(ctx_, x.data(), m, k, Fp8ActivationQuant::kDynamicPerTokenGroup, nullptr, q.data(),
                           scales.data());
  for (int g = 0; g < 3; ++g) {
    for (int t = 0; t < m; ++t) {
      float absmax = 0;
      for (int i = g * 128; i < std::min(k, g * 128 + 128); ++i) {
        absmax = std::max(absmax, std::fabs(x[static_cast<size_t>(t * k + i)]));
      }
      EXPECT_EQ(scales[static_cast<size_t>(g * m + t)], absmax / 448.0f) << "group " << g << " token " << t;
    }
  }
  EXPECT_EQ(scales[5], 50.0f / 448.0f);
  EXPECT_EQ(q[static_cast<size_t>(k + 260)], 0x7e);
}

using Scheme = std::tuple<Fp8WeightScaling, Fp8ActivationQuant>;

class Fp8LinearSchemes : public Fp8LinearTest, public ::testing::WithParamInterface<Scheme> {};

TEST_P(Fp8LinearSchemes, EqualsTheDequantizedProductAndIsBatchInvariant) {
  const auto [scaling, activation] = GetParam();
  for (const auto& [m, n, k] : {std::make_tuple(1, 7, 64), std::make_tuple(5, 130, 300), std::make_tuple(4, 256, 1029)}) {
    const Fp8TestWeight w = make_fp8_weight(n, k, scaling, activation, static_cast<uint32_t>(n + k));
    Fp8Weight weight = w.view;
    const float input_scale = 0.02f;
    weight.input_scale = &input_scale;
    const std::vector<float> x = random_floats(static_cast<size_t>(m) * k, static_cast<uint32_t>(m * k), -2.0f, 2.0f);
    const testing::TestWeight bias = make_weight({n}, DType::kBF16, 9);

    // The reference: activations through the same quantizer (a test of its own above), then the
    // product of the dequantized operands in double.
    std::vector<uint8_t> q(x.size());
    std::vector<float> x_scales(fp8_activation_scale_count(activation, m, k));
    quantize_activations_fp8(ctx_, x.data(), m, k, activation, &input_scale, q.data(), x_scales.data());
    std::vector<double> reference(static_cast<size_t>(m) * n);
    for (int t = 0; t < m; ++t) {
      for (int j = 0; j < n; ++j) {
        double sum = bias.f32[static_cast<size_t>(j)];
        for (int i = 0; i < k; ++i) {
          const size_t at = static_cast<size_t>(t) * k + i;
          double a = x[at];
          if (activation == Fp8ActivationQuant::kDynamicPerTokenGroup) {
            a = static_cast<double>(fp8_e4m3_to_f32(q[at])) * x_scales[static_cast<size_t>((i / 128) * m + t)];
          } else if (activation != Fp8ActivationQuant::kNone) {
            a = static_cast<double>(fp8_e4m3_to_f32(q[at])) * x_scales[static_cast<size_t>(t)];
          }
          sum += a * dequantized(weight, j, i);
        }
        reference[static_cast<size_t>(t) * n + j] = sum;
      }
    }
    std::vector<float> y(static_cast<size_t>(m) * n, NAN);
    fp8_linear(ctx_, x.data(), m, weight, bias.view, y.data());
    double diff = 0, norm = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      diff += (y[i] - reference[i]) * (y[i] - reference[i]);
      norm += reference[i] * reference[i];
    }
    EXPECT_LT(std::sqrt(diff / norm), 1e-6) << "m=" << m << " n=" << n << " k=" << k;

    // Each row alone gives the same bits as inside the batch.
    for (int t = 0; t < m; ++t) {
      std::vector<float> alone(static_cast<size_t>(n));
      fp8_linear(ctx_, x.data() + static_cast<size_t>(t) * k, 1, weight, bias.view, alone.data());
      for (int j = 0; j < n; ++j) ASSERT_EQ(alone[static_cast<size_t>(j)], y[static_cast<size_t>(t) * n + j]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, Fp8LinearSchemes,
    ::testing::Values(Scheme{Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kDynamicPerToken},
                      Scheme{Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kStaticPerTensor},
                      Scheme{Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kNone},
                      Scheme{Fp8WeightScaling::kBlock, Fp8ActivationQuant::kDynamicPerTokenGroup},
                      Scheme{Fp8WeightScaling::kBlock, Fp8ActivationQuant::kNone}));

TEST_F(Fp8LinearTest, WeightRowsQuantizeByTheRule) {
  const int n = 5, k = 77;
  const testing::TestWeight weight = make_weight({n, k}, DType::kBF16, 12);
  std::vector<uint8_t> q(static_cast<size_t>(n) * k);
  std::vector<float> scales(n);
  quantize_weight_rows_fp8(ctx_, weight.view, q.data(), scales.data());
  for (int j = 0; j < n; ++j) {
    float absmax = 0;
    for (int i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(weight.f32[static_cast<size_t>(j * k + i)]));
    ASSERT_EQ(scales[static_cast<size_t>(j)], absmax / 448.0f);
    for (int i = 0; i < k; ++i) {
      const size_t at = static_cast<size_t>(j * k + i);
      ASSERT_EQ(q[at], f32_to_fp8_e4m3(weight.f32[at] / scales[static_cast<size_t>(j)]));
    }
  }
  // Dequantized back, each element is within an E4M3 half step of the original.
  Fp8Weight view;
  view.weight = q.data();
  view.weight_scale = scales.data();
  view.n = n;
  view.k = k;
  std::vector<float> back(q.size());
  dequantize_fp8_weight(ctx_, view, back.data());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i], fp8_e4m3_to_f32(q[i]) * scales[i / k]);
    EXPECT_LE(std::fabs(back[i] - weight.f32[i]), std::fabs(weight.f32[i]) / 16 + scales[i / k] / 512) << i;
  }
}

TEST_F(Fp8LinearTest, DequantizeReadsBlockScales) {
  const Fp8TestWeight w = make_fp8_weight(200, 260, Fp8WeightScaling::kBlock, Fp8ActivationQuant::kNone, 3);
  std::vector<float> out(static_cast<size_t>(200) * 260);
  dequantize_fp8_weight(ctx_, w.view, out.data());
  for (int j : {0, 127, 128, 199}) {
    for (int i : {0, 127, 128, 259}) {
      EXPECT_EQ(out[static_cast<size_t>(j) * 260 + i], static_cast<float>(dequantized(w.view, j, i)));
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
