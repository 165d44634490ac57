// Parity of the GPU linear layers (skinny kernel and cuBLASLt) with a double-precision
// reference of the same bf16 inputs, over decode and prefill shapes with and without bias.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "cuda_test_util.h"
#include "kernels/cuda/linear.h"

namespace kiln::cuda {
namespace {

using testing::download_bf16;
using testing::poisoned_bf16;
using testing::random_bf16;
using testing::relative_error;
using testing::upload;

std::vector<double> reference_linear(const std::vector<uint16_t>& x, const std::vector<uint16_t>& w,
                                     const std::vector<uint16_t>* bias, int m, int n, int k) {
  std::vector<double> y(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = bias ? bf16_to_f32((*bias)[j]) : 0.0;
      for (int p = 0; p < k; ++p) {
        sum += static_cast<double>(bf16_to_f32(x[static_cast<size_t>(i) * k + p])) *
               bf16_to_f32(w[static_cast<size_t>(j) * k + p]);
      }
      y[static_cast<size_t>(i) * n + j] = sum;
    }
  }
  return y;
}

class LinearParity : public ::testing::TestWithParam<std::tuple<int, int, int, bool>> {};

TEST_P(LinearParity, MatchesDoubleReference) {
  KILN_SKIP_WITHOUT_GPU();
  const auto [m, n, k, with_bias] = GetParam();
  auto context = CudaContext::create(0);
  ASSERT_TRUE(context.ok()) << context.message();
  std::mt19937 rng(1000 + m * 7 + n + k);
  const auto x = random_bf16(static_cast<size_t>(m) * k, rng);
  const auto w = random_bf16(static_cast<size_t>(n) * k, rng, 0.05f);
  const auto bias = random_bf16(n, rng);
  const auto reference = reference_linear(x, w, with_bias ? &bias : nullptr, m, n, k);

  DeviceBuffer x_dev = upload(x), w_dev = upload(w), bias_dev = upload(bias);
  const auto* bias_ptr = with_bias ? bias_dev.as<__nv_bfloat16>() : nullptr;
  Linear linear(**context);

  if (m <= kSkinnyMaxRows) {
    DeviceBuffer y_dev = poisoned_bf16(static_cast<size_t>(m) * n);
    skinny_linear(x_dev.as<__nv_bfloat16>(), w_dev.as<__nv_bfloat16>(), bias_ptr,
                  y_dev.as<__nv_bfloat16>(), m, n, k, (*context)->stream());
    (*context)->synchronize();
    EXPECT_LT(relative_error(download_bf16(y_dev, reference.size()), reference), 8e-3) << "skinny";
  }
  DeviceBuffer y_dev = poisoned_bf16(static_cast<size_t>(m) * n);
  linear.cublaslt().run(x_dev.as<__nv_bfloat16>(), w_dev.as<__nv_bfloat16>(), bias_ptr,
                        y_dev.as<__nv_bfloat16>(), m, n, k);
  (*context)->synchronize();
  EXPECT_LT(relative_error(download_bf16(y_dev, reference.size()), reference), 8e-3) << "cublaslt";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LinearParity,
    ::testing::Values(std::make_tuple(1, 4096, 4096, false), std::make_tuple(1, 1027, 512, true),
                      std::make_tuple(3, 768, 1536, true), std::make_tuple(8, 2048, 1024, false),
                      std::make_tuple(5, 333, 2048, false), std::make_tuple(64, 1024, 512, true),
                      std::make_tuple(300, 640, 256, false)));

}  // namespace
}  // namespace kiln::cuda
