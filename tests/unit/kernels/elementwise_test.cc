// Embedding, RMSNorm (plain and fused with the residual add) and SwiGLU against double references.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "kernels/ops.h"

namespace kiln::cpu {
namespace {

using testing::isas_to_test;
using testing::make_weight;
using testing::random_floats;

TEST(EmbeddingTest, GathersRowsOfEveryDtype) {
  ThreadPool pool(2);
  const int vocab = 50, hidden = 24;
  const std::vector<int32_t> ids = {3, 49, 0, 3, 17};
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const auto table = make_weight({vocab, hidden}, dtype, 7);
    std::vector<float> out(ids.size() * hidden);
    embedding(CpuContext{&pool, Isa::kScalar}, table.view, ids.data(), static_cast<int>(ids.size()),
              out.data());
    for (size_t t = 0; t < ids.size(); ++t) {
      for (int i = 0; i < hidden; ++i) {
        EXPECT_EQ(out[t * hidden + i], table.f32[static_cast<size_t>(ids[t]) * hidden + i]);
      }
    }
  }
}

std::vector<double> rms_norm_reference(const float* x, const std::vector<float>& w, int hidden,
                                       double eps) {
  double sum = 0;
  for (int i = 0; i < hidden; ++i) sum += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(sum / hidden + eps);
  std::vector<double> out(static_cast<size_t>(hidden));
  for (int i = 0; i < hidden; ++i)
    out[static_cast<size_t>(i)] = w[static_cast<size_t>(i)] * (x[i] * inv);
  return out;
}

TEST(RmsNormTest, MatchesDoubleReference) {
  ThreadPool pool(2);
  const int rows = 5;
  for (Isa isa : isas_to_test()) {
    for (int hidden : {7, 64, 100}) {
      for (DType dtype : {DType::kF32, DType::kBF16}) {
        const std::vector<float> x = random_floats(static_cast<size_t>(rows) * hidden, 8, -3, 3);
        const auto w = make_weight({hidden}, dtype, 9);
        std::vector<float> out(x.size());
        rms_norm(CpuContext{&pool, isa}, x.data(), w.view, rows, hidden, 1e-5f, out.data());
        for (int r = 0; r < rows; ++r) {
          const auto ref = rms_norm_reference(x.data() + r * hidden, w.f32, hidden, 1e-5);
          for (int i = 0; i < hidden; ++i) {
            ASSERT_NEAR(out[static_cast<size_t>(r) * hidden + i], ref[static_cast<size_t>(i)],
                        2e-6 * (1 + std::abs(ref[static_cast<size_t>(i)])));
          }
        }
      }
    }
  }
}

TEST(AddRmsNormTest, UpdatesResidualAndNormalizesIt) {
  ThreadPool pool(2);
  const int rows = 4, hidden = 72;
  for (Isa isa : isas_to_test()) {
    std::vector<float> residual = random_floats(static_cast<size_t>(rows) * hidden, 10);
    const std::vector<float> before = residual;
    const std::vector<float> x = random_floats(residual.size(), 11);
    const auto w = make_weight({hidden}, DType::kF32, 12);
    std::vector<float> out(residual.size());
    add_rms_norm(CpuContext{&pool, isa}, residual.data(), x.data(), w.view, rows, hidden, 1e-6f,
                 out.data());
    for (size_t i = 0; i < residual.size(); ++i) EXPECT_EQ(residual[i], before[i] + x[i]);
    for (int r = 0; r < rows; ++r) {
      const auto ref = rms_norm_reference(residual.data() + r * hidden, w.f32, hidden, 1e-6);
      for (int i = 0; i < hidden; ++i) {
        ASSERT_NEAR(out[static_cast<size_t>(r) * hidden + i], ref[static_cast<size_t>(i)],
                    2e-6 * (1 + std::abs(ref[static_cast<size_t>(i)])));
      }
    }
  }
}

TEST(SiluAndMulTest, SeparateAndInterleavedLayouts) {
  ThreadPool pool(2);
  const int m = 3, inter = 21;
  const std::vector<float> gate_up = random_floats(static_cast<size_t>(m) * 2 * inter, 13, -6, 6);
  std::vector<float> out(static_cast<size_t>(m) * inter);
  silu_and_mul(CpuContext{&pool, Isa::kScalar}, gate_up.data(), gate_up.data() + inter, m, inter,
               2 * inter, out.data());
  for (int r = 0; r < m; ++r) {
    for (int i = 0; i < inter; ++i) {
      const double g = gate_up[static_cast<size_t>(r) * 2 * inter + i];
      const double u = gate_up[static_cast<size_t>(r) * 2 * inter + inter + i];
      const double ref = g / (1 + std::exp(-g)) * u;
      ASSERT_NEAR(out[static_cast<size_t>(r) * inter + i], ref, 1e-6 * (1 + std::abs(ref)));
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
