#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernel_test_util.h"
#include "kernels/ops.h"

namespace kiln::cpu {
namespace {

using testing::isas_to_test;
using testing::make_weight;
using testing::random_floats;

struct Shape {
  int m, k, n;
};

TEST(MatmulTest, MatchesDoubleReference) {
  ThreadPool pool(3);
  const Shape shapes[] = {{1, 8, 1},    {1, 64, 70}, {3, 13, 9},   {4, 67, 33},
                          {5, 256, 17}, {9, 40, 8},  {17, 129, 65}};
  for (Isa isa : isas_to_test()) {
    const CpuContext ctx{&pool, isa};
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
      for (bool with_bias : {false, true}) {
        for (const Shape& s : shapes) {
          SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(dtype)) +
                       " m=" + std::to_string(s.m) + " k=" + std::to_string(s.k) +
                       " n=" + std::to_string(s.n) + (with_bias ? " bias" : ""));
          const std::vector<float> x = random_floats(static_cast<size_t>(s.m) * s.k, 1);
          const auto w = make_weight({s.n, s.k}, dtype, 2);
          const auto b = make_weight({s.n}, dtype, 3);
          std::vector<float> y(static_cast<size_t>(s.m) * s.n, -7.0f);
          matmul(ctx, x.data(), s.m, s.k, w.view, with_bias ? b.view : TensorView{}, y.data());
          for (int i = 0; i < s.m; ++i) {
            for (int j = 0; j < s.n; ++j) {
              double ref = with_bias ? b.f32[static_cast<size_t>(j)] : 0.0;
              double magnitude = std::abs(ref);
              for (int t = 0; t < s.k; ++t) {
                const double p = static_cast<double>(x[static_cast<size_t>(i) * s.k + t]) *
                                 w.f32[static_cast<size_t>(j) * s.k + t];
                ref += p;
                magnitude += std::abs(p);
              }
              ASSERT_NEAR(y[static_cast<size_t>(i) * s.n + j], ref, 4e-6 * magnitude + 1e-7)
                  << "at " << i << "," << j;
            }
          }
        }
      }
    }
  }
}

// Each row's result is bitwise the same computed alone, in any batch, with any thread count.
TEST(MatmulTest, RowResultsDoNotDependOnBatchOrThreads) {
  ThreadPool pool1(1);
  ThreadPool pool3(3);
  const int m = 11, k = 100, n = 37;
  const std::vector<float> x = random_floats(static_cast<size_t>(m) * k, 4);
  for (Isa isa : isas_to_test()) {
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      const auto w = make_weight({n, k}, dtype, 5);
      std::vector<float> batched(static_cast<size_t>(m) * n);
      matmul(CpuContext{&pool3, isa}, x.data(), m, k, w.view, TensorView{}, batched.data());
      for (int i = 0; i < m; ++i) {
        std::vector<float> alone(static_cast<size_t>(n));
        matmul(CpuContext{&pool1, isa}, x.data() + static_cast<size_t>(i) * k, 1, k, w.view,
               TensorView{}, alone.data());
        EXPECT_EQ(0, std::memcmp(alone.data(), batched.data() + static_cast<size_t>(i) * n,
                                 sizeof(float) * n))
            << "row " << i << " isa " << isa_name(isa);
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
