// The FP8 linear lab: kiln's FP8 paths against the bf16 ones at the 8B model's shapes, to set
// Linear's dispatch (kFp8SkinnyDispatchMaxRows) and to see how far each is from the copy
// bandwidth (decode) or the tensor cores (prefill).
//
//   fp8_lab [--quick]
//
// Decode (m = 1..16): per layer, microseconds per launch and % of copy bandwidth for the weight
// bytes, of the bf16 skinny kernel and cuBLASLt (the baseline), kiln's FP8 skinny kernel
// (per-channel W8A8, 128x128 blocks W8A8, weight-only W8A16, and gate/up with the SwiGLU
// epilogue) and cuBLASLt's FP8 GEMM with the quantization kernel before it (what Linear runs
// above the dispatch limit). As kernel_lab, 16 launches back to back over weight copies
// rotating through more than 4x the L2. Prefill (m = 512, 4096): TFLOP/s of the bf16 GEMM, the
// FP8 GEMM (+ quantization) per channel and per block, and weight-only (dequantize + bf16 GEMM).
#include <cuda_bf16.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/bandwidth.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/fp8_linear_cuda.h"
#include "kernels/cuda/linear.h"
#include "lab_util.h"

namespace kiln::cuda {
namespace {

struct Shape {
  const char* name;
  int n, k;
};
const Shape kShapes[] = {{"qkv_proj", 6144, 4096}, {"o_proj", 4096, 4096}, {"gate_up_proj", 28672, 4096},
                         {"down_proj", 4096, 14336}};

// One FP8 weight copy on the device: codes, per-channel and block scales.
struct Fp8Copy {
  DeviceBuffer codes, channel_scales, block_scales;
};

Fp8Copy make_fp8_copy(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 251);
  std::vector<uint8_t> codes(static_cast<size_t>(shape.n) * shape.k);
  for (uint8_t& c : codes) c = static_cast<uint8_t>((code(rng) % 126) | (rng() & 0x80));
  std::vector<float> channel(static_cast<size_t>(shape.n), 1e-3f);
  std::vector<float> blocks(static_cast<size_t>((shape.n + 127) / 128) * ((shape.k + 127) / 128), 1e-3f);
  Fp8Copy copy;
  copy.codes = std::move(DeviceBuffer::try_allocate(codes.size()).value());
  KILN_CUDA_CHECK(cudaMemcpy(copy.codes.data(), codes.data(), codes.size(), cudaMemcpyHostToDevice));
  copy.channel_scales = std::move(DeviceBuffer::try_allocate(channel.size() * 4).value());
  KILN_CUDA_CHECK(cudaMemcpy(copy.channel_scales.data(), channel.data(), channel.size() * 4, cudaMemcpyHostToDevice));
  copy.block_scales = std::move(DeviceBuffer::try_allocate(blocks.size() * 4).value());
  KILN_CUDA_CHECK(cudaMemcpy(copy.block_scales.data(), blocks.data(), blocks.size() * 4, cudaMemcpyHostToDevice));
  return copy;
}

Fp8Weight view(const Fp8Copy& copy, const Shape& shape, Fp8WeightScaling scaling, Fp8ActivationQuant activation) {
  Fp8Weight w;
  w.weight = copy.codes.as<uint8_t>();
  w.weight_scale = scaling == Fp8WeightScaling::kBlock ? copy.block_scales.as<float>() : copy.channel_scales.as<float>();
  w.weight_scaling = scaling;
  w.activation = activation;
  w.n = shape.n;
  w.k = shape.k;
  return w;
}

int run(bool quick) {
  auto context_or = CudaContext::create(0);
  if (!context_or.ok()) {
    std::fprintf(stderr, "fp8_lab: %s\n", context_or.message().c_str());
    return 1;
  }
  CudaContext& context = **context_or;
  const DeviceInfo& info = context.info();
  cudaStream_t stream = context.stream();
  const Result<double> copy_or = measure_copy_bandwidth_gbps();
  const double copy_gbps = copy_or.ok() ? *copy_or : 0;
  std::printf("device: %s, sm_%d, %d SMs, L2 %.0f MiB, copy bandwidth %.0f GB/s\n", info.name.c_str(),
              info.compute_capability, info.num_sms, info.l2_cache_bytes / 1048576.0, copy_gbps);
  Linear linear(context);
  constexpr int kBackToBack = 16;
  constexpr int kMaxRows = 4096;
  const std::vector<int> decode_rows = quick ? std::vector<int>{1, 4, 8, 16} : std::vector<int>{1, 2, 3, 4, 6, 8, 12, 16};
  const std::vector<int> prefill_rows = {512, kMaxRows};

  std::printf("\n%-13s %5s %-26s %9s %7s %7s\n", "layer", "m", "kernel", "us", "GB/s", "%copy");
  for (const Shape& shape : kShapes) {
    const size_t fp8_bytes = static_cast<size_t>(shape.n) * shape.k;
    const int copies = static_cast<int>(std::max<size_t>(2, 4 * info.l2_cache_bytes / fp8_bytes + 1));
    std::vector<Fp8Copy> fp8;
    std::vector<DeviceBuffer> bf16;
    for (int i = 0; i < copies; ++i) {
      fp8.push_back(make_fp8_copy(shape, 100 + i));
      bf16.push_back(random_device_bf16(fp8_bytes, 200 + i));
    }
    std::vector<Fp8Weight> reserve_views;
    for (const auto scaling : {Fp8WeightScaling::kPerChannel, Fp8WeightScaling::kBlock}) {
      reserve_views.push_back(view(fp8[0], shape, scaling, Fp8ActivationQuant::kNone));
    }
    if (!linear.reserve_fp8(reserve_views, kMaxRows).ok()) return 1;
    DeviceBuffer x = random_device_bf16(static_cast<size_t>(kMaxRows) * shape.k, 3, 1.0f);
    DeviceBuffer y = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(kMaxRows) * shape.n * 2).value());
    DeviceBuffer codes = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(kMaxRows) * shape.k).value());
    DeviceBuffer scales =
        std::move(DeviceBuffer::try_allocate(static_cast<size_t>(kMaxRows) * ((shape.k + 127) / 128) * 4).value());
    const auto* xb = x.as<__nv_bfloat16>();
    auto* yb = y.as<__nv_bfloat16>();

    // Decode: time per launch, GB/s of the weight's bytes.
    auto decode = [&](int m, const std::string& kernel, size_t bytes, const std::function<void(int)>& body) {
      int next = 0;
      const float ms = time_ms(stream, 2, 20, [&](int) {
        for (int i = 0; i < kBackToBack; ++i) body(next++ % copies);
      }) / kBackToBack;
      const double gbps = bytes / (ms * 1e-3) / 1e9;
      std::printf("%-13s %5d %-26s %9.1f %7.0f %6.1f%%\n", shape.name, m, kernel.c_str(), ms * 1e3, gbps,
                  copy_gbps > 0 ? 100 * gbps / copy_gbps : 0.0);
    };
    for (int m : decode_rows) {
      if (m <= kSkinnyMaxRows) {
        decode(m, "bf16 skinny", 2 * fp8_bytes, [&](int c) {
          skinny_linear(xb, bf16[c].as<__nv_bfloat16>(), nullptr, yb, m, shape.n, shape.k, stream);
        });
      }
      decode(m, "bf16 cublaslt", 2 * fp8_bytes, [&](int c) {
        linear.cublaslt().run(xb, bf16[c].as<__nv_bfloat16>(), nullptr, yb, m, shape.n, shape.k);
      });
      const struct {
        const char* name;
        Fp8WeightScaling scaling;
        Fp8ActivationQuant activation;
      } variants[] = {{"fp8 skinny channel W8A8", Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kDynamicPerToken},
                      {"fp8 skinny block W8A8", Fp8WeightScaling::kBlock, Fp8ActivationQuant::kDynamicPerTokenGroup},
                      {"fp8 skinny W8A16", Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kNone}};
      for (const auto& variant : variants) {
        decode(m, variant.name, fp8_bytes, [&](int c) {
          fp8_skinny_linear(xb, m, view(fp8[c], shape, variant.scaling, variant.activation), nullptr, yb, stream);
        });
      }
      if (shape.n == 28672) {
        decode(m, "fp8 skinny silu W8A8", fp8_bytes, [&](int c) {
          fp8_skinny_linear_silu_mul(
              xb, m, view(fp8[c], shape, Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kDynamicPerToken), yb,
              stream);
        });
      }
      for (const auto scaling : {Fp8WeightScaling::kPerChannel, Fp8WeightScaling::kBlock}) {
        const Fp8ActivationQuant quant = scaling == Fp8WeightScaling::kBlock ? Fp8ActivationQuant::kDynamicPerTokenGroup
                                                                             : Fp8ActivationQuant::kDynamicPerToken;
        if (!linear.cublaslt_fp8().supports(m, shape.n, shape.k, scaling)) continue;
        decode(m, scaling == Fp8WeightScaling::kBlock ? "fp8 quant+cublaslt block" : "fp8 quant+cublaslt channel",
               fp8_bytes, [&](int c) {
                 const Fp8Weight w = view(fp8[c], shape, scaling, quant);
                 quantize_activations_fp8(xb, m, shape.k, quant, nullptr, codes.as<uint8_t>(), scales.as<float>(), stream);
                 linear.cublaslt_fp8().run(codes.as<uint8_t>(), scales.as<float>(), w, yb, m);
               });
      }
    }
    // Prefill: TFLOP/s.
    for (int m : prefill_rows) {
      auto prefill = [&](const std::string& kernel, const std::function<void(int)>& body) {
        int next = 0;
        const float ms = time_ms(stream, 2, 10, [&](int) { body(next++ % copies); });
        std::printf("%-13s %5d %-26s %9.1f %7.0f TFLOP/s\n", shape.name, m, kernel.c_str(), ms * 1e3,
                    2.0 * m * shape.n * shape.k / (ms * 1e-3) / 1e12);
      };
      prefill("bf16 cublaslt", [&](int c) {
        linear.cublaslt().run(xb, bf16[c].as<__nv_bfloat16>(), nullptr, yb, m, shape.n, shape.k);
      });
      for (const auto scaling : {Fp8WeightScaling::kPerChannel, Fp8WeightScaling::kBlock}) {
        const Fp8ActivationQuant quant = scaling == Fp8WeightScaling::kBlock ? Fp8ActivationQuant::kDynamicPerTokenGroup
                                                                             : Fp8ActivationQuant::kDynamicPerToken;
        LinearWeight w;
        w.fp8 = view(fp8[0], shape, scaling, quant);
        prefill(scaling == Fp8WeightScaling::kBlock ? "fp8 linear block W8A8" : "fp8 linear channel W8A8", [&](int c) {
          w.fp8 = view(fp8[c], shape, scaling, quant);
          linear.run(xb, w, nullptr, yb, m, shape.n, shape.k);
        });
      }
      LinearWeight weight_only;
      prefill("fp8 linear W8A16", [&](int c) {
        weight_only.fp8 = view(fp8[c], shape, Fp8WeightScaling::kPerChannel, Fp8ActivationQuant::kNone);
        linear.run(xb, weight_only, nullptr, yb, m, shape.n, shape.k);
      });
    }
  }
  return 0;
}

}  // namespace
}  // namespace kiln::cuda

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "fp8_lab: unknown argument '%s' (usage: fp8_lab [--quick])\n", argv[i]);
      return 2;
    }
  }
  return kiln::cuda::run(quick);
}
