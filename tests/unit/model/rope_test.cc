// Rope tables against HF modeling_rope_utils' formulas, re-derived here in double precision.
#include "model/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace kiln {
namespace {

ModelConfig config_with(RopeType type, int head_dim, double theta) {
  ModelConfig c;
  c.head_dim = head_dim;
  c.rope_theta = theta;
  c.max_position_embeddings = 131072;
  c.rope_scaling.type = type;
  return c;
}

std::vector<double> default_inv_freq(double theta, int dim) {
  std::vector<double> f;
  for (int i = 0; i < dim; i += 2) f.push_back(1.0 / std::pow(theta, static_cast<double>(i) / dim));
  return f;
}

void expect_close(const std::vector<float>& ours, const std::vector<double>& ref) {
  ASSERT_EQ(ours.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_NEAR(ours[i], ref[i], 2e-6 * std::abs(ref[i])) << "inv_freq[" << i << "]";
  }
}

TEST(RopeTest, DefaultAndLinear) {
  auto params = compute_rope_parameters(config_with(RopeType::kDefault, 128, 500000.0));
  ASSERT_TRUE(params.ok());
  expect_close(params->inv_freq, default_inv_freq(500000.0, 128));
  EXPECT_EQ(params->attention_scaling, 1.0f);

  ModelConfig linear = config_with(RopeType::kLinear, 64, 10000.0);
  linear.rope_scaling.factor = 4.0;
  params = compute_rope_parameters(linear);
  ASSERT_TRUE(params.ok());
  std::vector<double> ref = default_inv_freq(10000.0, 64);
  for (double& f : ref) f /= 4.0;
  expect_close(params->inv_freq, ref);
}

// Llama 3.1's own rope_scaling: low frequencies divided by 8, high ones kept, a smooth ramp
// between.
TEST(RopeTest, Llama3MatchesHfFormula) {
  ModelConfig c = config_with(RopeType::kLlama3, 128, 500000.0);
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 8192;
  const auto params = compute_rope_parameters(c);
  ASSERT_TRUE(params.ok());
  std::vector<double> ref;
  int low = 0, medium = 0, high = 0;
  for (double f : default_inv_freq(500000.0, 128)) {
    const double wavelen = 2 * std::numbers::pi / f;
    if (wavelen < 8192 / 4.0) {
      ref.push_back(f);
      ++high;
    } else if (wavelen > 8192 / 1.0) {
      ref.push_back(f / 8.0);
      ++low;
    } else {
      const double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
      ref.push_back((1 - smooth) * f / 8.0 + smooth * f);
      ++medium;
    }
  }
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(high, 0);
  expect_close(params->inv_freq, ref);

  c.rope_scaling.original_max_position_embeddings = 0;
  const auto missing = compute_rope_parameters(c);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("original_max_position_embeddings"), std::string::npos);
}

TEST(RopeTest, YarnMatchesHfFormula) {
  ModelConfig c = config_with(RopeType::kYarn, 64, 10000.0);
  c.rope_scaling.factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 4096;
  const auto params = compute_rope_parameters(c);
  ASSERT_TRUE(params.ok());
  const int dim = 64;
  auto correction_dim = [&](double rotations) {
    return dim * std::log(4096 / (rotations * 2 * std::numbers::pi)) / (2 * std::log(10000.0));
  };
  const double low = std::max(std::floor(correction_dim(32.0)), 0.0);
  const double high = std::min(std::ceil(correction_dim(1.0)), dim - 1.0);
  std::vector<double> ref;
  const std::vector<double> base = default_inv_freq(10000.0, dim);
  for (int i = 0; i < dim / 2; ++i) {
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    const double extrapolation_factor = 1 - ramp;
    ref.push_back(base[static_cast<size_t>(i)] / 4.0 * (1 - extrapolation_factor) +
                  base[static_cast<size_t>(i)] * extrapolation_factor);
  }
  expect_close(params->inv_freq, ref);
  EXPECT_NEAR(params->attention_scaling, 0.1 * std::log(4.0) + 1.0, 1e-6);
}

TEST(RopeTest, TableRowsHoldCosThenSinAndGrow) {
  auto params = compute_rope_parameters(config_with(RopeType::kDefault, 16, 10000.0));
  ASSERT_TRUE(params.ok());
  RopeTable table(*params, 16);
  table.reserve(10);
  EXPECT_GE(table.num_positions(), 10);
  table.reserve(1000);
  ASSERT_GE(table.num_positions(), 1000);
  for (int p : {0, 1, 7, 999}) {
    for (int i = 0; i < 8; ++i) {
      const float angle = params->inv_freq[static_cast<size_t>(i)] * static_cast<float>(p);
      EXPECT_NEAR(table.data()[p * 16 + i], std::cos(static_cast<double>(angle)), 1e-7);
      EXPECT_NEAR(table.data()[p * 16 + 8 + i], std::sin(static_cast<double>(angle)), 1e-7);
    }
  }
}

TEST(RopeTest, RejectsOddHeadDim) {
  EXPECT_FALSE(compute_rope_parameters(config_with(RopeType::kDefault, 15, 10000.0)).ok());
}

}  // namespace
}  // namespace kiln
