// Parity of the GPU linear layers (skinny kernel and cuBLASLt) with a double-precision
// reference of the same bf16 inputs, over decode and prefill shapes with and without bias.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "cuda_test_util.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/ops_cuda.h"

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

// A row's sum does not depend on the tiling (each thread walks its chunks in the same order and
// the block reduces in a fixed order), so every tiling gives the default's bits: batches stay
// invariant whichever tiling a shape gets.
TEST(SkinnyLinear, EveryTilingGivesTheSameBits) {
  KILN_SKIP_WITHOUT_GPU();
  auto context = CudaContext::create(0);
  ASSERT_TRUE(context.ok()) << context.message();
  cudaStream_t stream = (*context)->stream();
  std::mt19937 rng(77);
  for (const auto& [m, n, k] : {std::make_tuple(1, 1027, 4096), std::make_tuple(2, 515, 14336),
                                std::make_tuple(4, 64, 2048), std::make_tuple(8, 130, 520)}) {
    const auto x = random_bf16(static_cast<size_t>(m) * k, rng);
    const auto w = random_bf16(static_cast<size_t>(n) * k, rng, 0.05f);
    DeviceBuffer x_dev = upload(x), w_dev = upload(w);
    DeviceBuffer expected_dev = poisoned_bf16(static_cast<size_t>(m) * n);
    skinny_linear(x_dev.as<__nv_bfloat16>(), w_dev.as<__nv_bfloat16>(), nullptr, expected_dev.as<__nv_bfloat16>(), m,
                  n, k, stream);
    (*context)->synchronize();
    const auto expected = download_bf16(expected_dev, static_cast<size_t>(m) * n);
    for (const auto& [rows, unroll] : {std::make_pair(2, 4), std::make_pair(4, 1), std::make_pair(4, 2),
                                       std::make_pair(8, 1), std::make_pair(8, 2)}) {
      DeviceBuffer y_dev = poisoned_bf16(static_cast<size_t>(m) * n);
      ASSERT_TRUE(skinny_linear_variant(x_dev.as<__nv_bfloat16>(), w_dev.as<__nv_bfloat16>(), y_dev.as<__nv_bfloat16>(),
                                        m, n, k, rows, unroll, stream));
      (*context)->synchronize();
      EXPECT_EQ(download_bf16(y_dev, expected.size()), expected)
          << "m=" << m << " n=" << n << " k=" << k << " rows=" << rows << " unroll=" << unroll;
    }
  }
}

// The fused gate/up GEMV with SwiGLU gives the bits of the two-kernel path at every m.
TEST(SkinnyLinear, SiluMulEpilogueMatchesSeparateKernels) {
  KILN_SKIP_WITHOUT_GPU();
  auto context = CudaContext::create(0);
  ASSERT_TRUE(context.ok()) << context.message();
  cudaStream_t stream = (*context)->stream();
  std::mt19937 rng(78);
  for (const auto& [m, inter, k] : {std::make_tuple(1, 1024, 4096), std::make_tuple(2, 14336, 4096),
                                    std::make_tuple(3, 333, 512), std::make_tuple(8, 130, 1024)}) {
    const auto x = random_bf16(static_cast<size_t>(m) * k, rng);
    const auto w = random_bf16(static_cast<size_t>(2 * inter) * k, rng, 0.05f);
    DeviceBuffer x_dev = upload(x), w_dev = upload(w);
    DeviceBuffer gate_up = poisoned_bf16(static_cast<size_t>(m) * 2 * inter);
    DeviceBuffer expected_dev = poisoned_bf16(static_cast<size_t>(m) * inter);
    skinny_linear(x_dev.as<__nv_bfloat16>(), w_dev.as<__nv_bfloat16>(), nullptr, gate_up.as<__nv_bfloat16>(), m,
                  2 * inter, k, stream);
    silu_and_mul(gate_up.as<__nv_bfloat16>(), gate_up.as<__nv_bfloat16>() + inter, m, inter, 2 * inter,
                 expected_dev.as<__nv_bfloat16>(), stream);
    DeviceBuffer fused = poisoned_bf16(static_cast<size_t>(m) * inter);
    skinny_linear_silu_mul(x_dev.as<__nv_bfloat16>(), w_dev.as<__nv_bfloat16>(), fused.as<__nv_bfloat16>(), m, inter,
                           k, stream);
    (*context)->synchronize();
    const auto expected = download_bf16(expected_dev, static_cast<size_t>(m) * inter);
    EXPECT_EQ(download_bf16(fused, expected.size()), expected) << "m=" << m << " inter=" << inter << " k=" << k;
  }
}

}  // namespace
}  // namespace kiln::cuda
