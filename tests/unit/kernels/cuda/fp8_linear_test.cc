// Parity of the FP8 kernels with their CPU twins (kernels/fp8_linear.h): activation and weight
// quantization bit for bit, dequantization bit for bit after bf16 rounding, the skinny FP8 GEMM
// and Linear's FP8 paths (cuBLASLt's scaled FP8 GEMM, the weight-only W8A16 path Ampere runs,
// forced here on Hopper) within bf16 output rounding, the SwiGLU epilogue bit for bit with the
// two-kernel path, and rows independent of the batch around them.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "cuda_test_util.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cuda/fp8_linear_cuda.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/fp8_linear.h"

namespace kiln::cuda {
namespace {

using testing::download_bf16;
using testing::download_raw;
using testing::poisoned_bf16;
using testing::random_bf16;
using testing::relative_error;
using testing::upload;
using testing::upload_raw;
using testing::widen;


// An FP8 weight on the host and the device: random codes (no NaN), scales over two decades.
struct Fp8TestWeight {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  float input_scale = 0.02f;
  DeviceBuffer codes_dev, scales_dev, input_scale_dev;
  Fp8Weight host, device;
};

Fp8TestWeight make_weight(int n, int k, Fp8WeightScaling scaling, Fp8ActivationQuant activation, std::mt19937& rng) {
  Fp8TestWeight w;
  std::uniform_int_distribution<int> code(0, 251);
  w.codes.resize(static_cast<size_t>(n) * k);
  for (uint8_t& c : w.codes) {
    const int value = code(rng);
    c = static_cast<uint8_t>((value % 126) | (value >= 126 ? 0x80 : 0));
  }
  w.host.n = n;
  w.host.k = k;
  w.host.weight_scaling = scaling;
  w.host.activation = activation;
  std::uniform_real_distribution<float> exponent(-4.0f, -2.0f);
  w.scales.resize(w.host.weight_scale_count());
  for (float& s : w.scales) s = std::pow(10.0f, exponent(rng));
  w.codes_dev = upload_raw(w.codes);
  w.scales_dev = upload_raw(w.scales);
  w.input_scale_dev = upload_raw(std::vector<float>{w.input_scale});
  w.host.weight = w.codes.data();
  w.host.weight_scale = w.scales.data();
  w.host.input_scale = &w.input_scale;
  w.device = w.host;
  w.device.weight = w.codes_dev.as<uint8_t>();
  w.device.weight_scale = w.scales_dev.as<float>();
  w.device.input_scale = w.input_scale_dev.as<float>();
  return w;
}

class Fp8Kernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (device_count() == 0) GTEST_SKIP() << "no CUDA device (runs on the GPU machine)";
    auto context = CudaContext::create(0);
    ASSERT_TRUE(context.ok()) << context.message();
    context_ = std::move(context).value();
  }
  cudaStream_t stream() const { return context_->stream(); }

  cpu::ThreadPool pool_{2};
  cpu::CpuContext cpu_{&pool_, cpu::Isa::kScalar};
  std::unique_ptr<CudaContext> context_;
};

TEST_F(Fp8Kernels, ActivationQuantizationIsBitExact) {
  std::mt19937 rng(1);
  const float input_scale = 0.004f;
  const DeviceBuffer input_scale_dev = upload_raw(std::vector<float>{input_scale});
  for (const auto quant : {Fp8ActivationQuant::kDynamicPerToken, Fp8ActivationQuant::kStaticPerTensor,
                           Fp8ActivationQuant::kDynamicPerTokenGroup}) {
    for (const auto& [m, k] : {std::make_pair(1, 4096), std::make_pair(5, 14336), std::make_pair(3, 200),
                               std::make_pair(64, 1032)}) {
      std::vector<uint16_t> x = random_bf16(static_cast<size_t>(m) * k, rng, 3.0f);
      for (int i = 0; i < k; ++i) x[static_cast<size_t>(i)] = 0;  // a row of zeros: the minimum scale
      if (m > 1) x[static_cast<size_t>(k + 7)] = f32_to_bf16(-3000.0f);  // saturates under the static scale
      const std::vector<float> x_f32 = widen(x);
      const size_t scale_count = fp8_activation_scale_count(quant, m, k);
      std::vector<uint8_t> codes(x.size());
      std::vector<float> scales(scale_count);
      cpu::quantize_activations_fp8(cpu_, x_f32.data(), m, k, quant, &input_scale, codes.data(), scales.data());
      const DeviceBuffer x_dev = upload(x);
      DeviceBuffer codes_dev = upload_raw(std::vector<uint8_t>(x.size(), 0x7f));
      DeviceBuffer scales_dev = upload_raw(std::vector<float>(scale_count, NAN));
      quantize_activations_fp8(x_dev.as<__nv_bfloat16>(), m, k, quant, input_scale_dev.as<float>(),
                               codes_dev.as<uint8_t>(), scales_dev.as<float>(), stream());
      context_->synchronize();
      const std::string where = "quant " + std::to_string(static_cast<int>(quant)) + " m=" + std::to_string(m) +
                                " k=" + std::to_string(k);
      EXPECT_EQ(download_raw<float>(scales_dev, scale_count), scales) << where;
      EXPECT_EQ(download_raw<uint8_t>(codes_dev, codes.size()), codes) << where;
    }
  }
}

TEST_F(Fp8Kernels, WeightRowQuantizationAndDequantizationAreBitExact) {
  std::mt19937 rng(2);
  const int n = 37, k = 1040;
  const std::vector<uint16_t> w = random_bf16(static_cast<size_t>(n) * k, rng, 0.1f);
  TensorView view{w.data(), DType::kBF16, {n, k}};
  std::vector<uint8_t> codes(w.size());
  std::vector<float> scales(n);
  cpu::quantize_weight_rows_fp8(cpu_, view, codes.data(), scales.data());
  const DeviceBuffer w_dev = upload(w);
  DeviceBuffer codes_dev = upload_raw(std::vector<uint8_t>(w.size(), 0x7f));
  DeviceBuffer scales_dev = upload_raw(std::vector<float>(n, NAN));
  quantize_weight_rows_fp8(w_dev.as<__nv_bfloat16>(), n, k, codes_dev.as<uint8_t>(), scales_dev.as<float>(), stream());
  context_->synchronize();
  EXPECT_EQ(download_raw<float>(scales_dev, n), scales);
  EXPECT_EQ(download_raw<uint8_t>(codes_dev, codes.size()), codes);

  for (const auto scaling : {Fp8WeightScaling::kPerChannel, Fp8WeightScaling::kBlock}) {
    Fp8TestWeight weight = make_weight(300, 520, scaling, Fp8ActivationQuant::kNone, rng);
    std::vector<float> expected(static_cast<size_t>(300) * 520);
    cpu::dequantize_fp8_weight(cpu_, weight.host, expected.data());
    for (float& value : expected) value = bf16_to_f32(f32_to_bf16(value));
    DeviceBuffer out = poisoned_bf16(expected.size());
    dequantize_fp8_weight(weight.device, out.as<__nv_bfloat16>(), stream());
    context_->synchronize();
    EXPECT_EQ(download_bf16(out, expected.size()), expected) << "scaling " << static_cast<int>(scaling);
  }
}

using Scheme = std::tuple<Fp8WeightScaling, Fp8ActivationQuant>;
const Scheme kSchemes[] = {
    {Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kDynamicPerToken},
    {Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kStaticPerTensor},
    {Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kNone},
    {Fp8WeightScaling::kBlock, Fp8ActivationQuant::kDynamicPerTokenGroup},
    {Fp8WeightScaling::kBlock, Fp8ActivationQuant::kNone},
};

std::string describe(const Scheme& scheme, int m, int n, int k) {
  return "scaling " + std::to_string(static_cast<int>(std::get<0>(scheme))) + " activation " +
         std::to_string(static_cast<int>(std::get<1>(scheme))) + " m=" + std::to_string(m) + " n=" +
         std::to_string(n) + " k=" + std::to_string(k);
}

// The CPU twin over the same bf16 inputs, the reference of every GPU path.
std::vector<float> cpu_reference(const cpu::CpuContext& ctx, const std::vector<uint16_t>& x, int m,
                                 const Fp8Weight& w, const std::vector<uint16_t>* bias) {
  const std::vector<float> x_f32 = widen(x);
  std::vector<float> y(static_cast<size_t>(m) * w.n);
  TensorView bias_view;
  if (bias) bias_view = TensorView{bias->data(), DType::kBF16, {w.n}};
  cpu::fp8_linear(ctx, x_f32.data(), m, w, bias_view, y.data());
  return y;
}

TEST_F(Fp8Kernels, SkinnyKernelMatchesTheCpuTwin) {
  std::mt19937 rng(3);
  for (const Scheme& scheme : kSchemes) {
    for (const auto& [m, n, k] : {std::make_tuple(1, 4096, 4096), std::make_tuple(2, 1027, 1024),
                                  std::make_tuple(3, 130, 272), std::make_tuple(5, 512, 14336),
                                  std::make_tuple(8, 256, 2048), std::make_tuple(13, 300, 4096),
                                  std::make_tuple(16, 4096, 512)}) {
      Fp8TestWeight w = make_weight(n, k, std::get<0>(scheme), std::get<1>(scheme), rng);
      const std::vector<uint16_t> x = random_bf16(static_cast<size_t>(m) * k, rng, 2.0f);
      const std::vector<uint16_t> bias = random_bf16(n, rng);
      const std::vector<float> expected = cpu_reference(cpu_, x, m, w.host, &bias);
      const DeviceBuffer x_dev = upload(x), bias_dev = upload(bias);
      DeviceBuffer y_dev = poisoned_bf16(expected.size());
      fp8_skinny_linear(x_dev.as<__nv_bfloat16>(), m, w.device, bias_dev.as<__nv_bfloat16>(),
                        y_dev.as<__nv_bfloat16>(), stream());
      context_->synchronize();
      // The codes are the CPU's bit for bit; what differs is f32 summation order and the bf16 output.
      EXPECT_LT(relative_error(download_bf16(y_dev, expected.size()), expected), 5e-3) << describe(scheme, m, n, k);
    }
  }
}

// A row's result does not depend on how many rows share the launch (kM 1 and kM 8 take different
// register layouts but the same arithmetic per row).
TEST_F(Fp8Kernels, SkinnyRowsAreBatchInvariant) {
  std::mt19937 rng(4);
  for (const Scheme& scheme : kSchemes) {
    const int m = 7, n = 515, k = 4096;
    Fp8TestWeight w = make_weight(n, k, std::get<0>(scheme), std::get<1>(scheme), rng);
    const std::vector<uint16_t> x = random_bf16(static_cast<size_t>(m) * k, rng, 2.0f);
    const DeviceBuffer x_dev = upload(x);
    DeviceBuffer batch = poisoned_bf16(static_cast<size_t>(m) * n);
    fp8_skinny_linear(x_dev.as<__nv_bfloat16>(), m, w.device, nullptr, batch.as<__nv_bfloat16>(), stream());
    context_->synchronize();
    const std::vector<float> together = download_bf16(batch, static_cast<size_t>(m) * n);
    for (int row = 0; row < m; ++row) {
      DeviceBuffer alone = poisoned_bf16(n);
      fp8_skinny_linear(x_dev.as<__nv_bfloat16>() + static_cast<size_t>(row) * k, 1, w.device, nullptr,
                        alone.as<__nv_bfloat16>(), stream());
      context_->synchronize();
      const std::vector<float> single = download_bf16(alone, n);
      EXPECT_TRUE(std::equal(single.begin(), single.end(), together.begin() + static_cast<ptrdiff_t>(row) * n))
          << describe(scheme, m, n, k) << " row " << row;
    }
  }
}

TEST_F(Fp8Kernels, SiluMulEpilogueMatchesSeparateKernels) {
  std::mt19937 rng(5);
  for (const Scheme& scheme : kSchemes) {
    for (const auto& [m, inter, k] : {std::make_tuple(1, 14336, 4096), std::make_tuple(2, 384, 1024),
                                      std::make_tuple(4, 256, 512), std::make_tuple(11, 128, 2048)}) {
      Fp8TestWeight w = make_weight(2 * inter, k, std::get<0>(scheme), std::get<1>(scheme), rng);
      const std::vector<uint16_t> x = random_bf16(static_cast<size_t>(m) * k, rng, 2.0f);
      const DeviceBuffer x_dev = upload(x);
      DeviceBuffer gate_up = poisoned_bf16(static_cast<size_t>(m) * 2 * inter);
      DeviceBuffer expected_dev = poisoned_bf16(static_cast<size_t>(m) * inter);
      fp8_skinny_linear(x_dev.as<__nv_bfloat16>(), m, w.device, nullptr, gate_up.as<__nv_bfloat16>(), stream());
      silu_and_mul(gate_up.as<__nv_bfloat16>(), gate_up.as<__nv_bfloat16>() + inter, m, inter, 2 * inter,
                   expected_dev.as<__nv_bfloat16>(), stream());
      DeviceBuffer fused = poisoned_bf16(static_cast<size_t>(m) * inter);
      fp8_skinny_linear_silu_mul(x_dev.as<__nv_bfloat16>(), m, w.device, fused.as<__nv_bfloat16>(), stream());
      context_->synchronize();
      const auto expected = download_bf16(expected_dev, static_cast<size_t>(m) * inter);
      EXPECT_EQ(download_bf16(fused, expected.size()), expected) << describe(scheme, m, 2 * inter, k);
    }
  }
}

// Linear's FP8 dispatch at every size: the skinny kernel, cuBLASLt's scaled FP8 GEMM (per channel
// x per token, 128x128 x 1x128 blocks), the weight-only dequantize + bf16 GEMM (W8A16: Ampere's
// path, run here on Hopper), and shapes cuBLASLt's block GEMM does not take.
TEST_F(Fp8Kernels, LinearMatchesTheCpuTwinOnEveryPath) {
  std::mt19937 rng(6);
  for (const Scheme& scheme : kSchemes) {
    for (const auto& [m, n, k, with_bias] :
         {std::make_tuple(2, 1024, 4096, true), std::make_tuple(9, 1024, 2048, false),
          std::make_tuple(64, 4096, 4096, true), std::make_tuple(300, 1536, 1024, false),
          std::make_tuple(100, 640, 1040, true)}) {  // k % 512 != 0: no cuBLASLt block GEMM
      Fp8TestWeight w = make_weight(n, k, std::get<0>(scheme), std::get<1>(scheme), rng);
      Linear linear(*context_);
      ASSERT_TRUE(linear.reserve_fp8({w.device}, 300).ok());
      const std::vector<uint16_t> x = random_bf16(static_cast<size_t>(m) * k, rng, 2.0f);
      const std::vector<uint16_t> bias = random_bf16(n, rng);
      // Where cuBLASLt has no FP8 GEMM for the shape (nor at the reserved 300 rows), rows past the
      // skinny kernel's run weight-only, as vLLM's FP8 Marlin: activations stay bf16, so the
      // reference is the twin without activation quantization.
      const bool quantizes_activations = w.host.activation != Fp8ActivationQuant::kNone;
      const bool weight_only =
          m > kFp8SkinnyDispatchMaxRows &&
          (!quantizes_activations || (!linear.cublaslt_fp8().supports(m, n, k, std::get<0>(scheme)) &&
                                      !linear.cublaslt_fp8().supports(300, n, k, std::get<0>(scheme))));
      Fp8Weight reference_weight = w.host;
      if (weight_only) reference_weight.activation = Fp8ActivationQuant::kNone;
      const std::vector<float> expected = cpu_reference(cpu_, x, m, reference_weight, with_bias ? &bias : nullptr);
      const DeviceBuffer x_dev = upload(x), bias_dev = upload(bias);
      DeviceBuffer y_dev = poisoned_bf16(expected.size());
      LinearWeight weight;
      weight.fp8 = w.device;
      linear.run(x_dev.as<__nv_bfloat16>(), weight, with_bias ? bias_dev.as<__nv_bfloat16>() : nullptr,
                 y_dev.as<__nv_bfloat16>(), m, n, k);
      context_->synchronize();
      // cuBLASLt's FP8 tensor cores accumulate with fewer bits than f32; the weight-only path
      // rounds the dequantized weight to bf16.
      EXPECT_LT(relative_error(download_bf16(y_dev, expected.size()), expected), 1e-2) << describe(scheme, m, n, k)
          << (weight_only ? " (weight-only)" : " (FP8 activations)");
    }
  }
}

TEST_F(Fp8Kernels, CublasLtTakesTheHopperScalingModes) {
  if (context_->info().compute_capability < 90) GTEST_SKIP() << "cuBLASLt's FP8 scaling modes need sm_90";
  CublasLtFp8Linear gemm(*context_);
  // The 8B model's shapes at a prefill size: both formats must run on the tensor cores.
  for (const auto& [n, k] : {std::make_pair(6144, 4096), std::make_pair(4096, 4096), std::make_pair(28672, 4096),
                             std::make_pair(4096, 14336)}) {
    EXPECT_TRUE(gemm.supports(512, n, k, Fp8WeightScaling::kPerChannel)) << n << "x" << k;
    EXPECT_TRUE(gemm.supports(512, n, k, Fp8WeightScaling::kBlock)) << n << "x" << k;
  }
  EXPECT_FALSE(gemm.supports(512, 640, 1040, Fp8WeightScaling::kBlock));
}

}  // namespace
}  // namespace kiln::cuda
