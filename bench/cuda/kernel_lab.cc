// kernel_lab: ceilings, linear-layer and attention speed on the GPU, timed with CUDA events.
//
//   kernel_lab [--quick] [--attention | --linear | --decode | --gemm]   (one group of cases alone)
//
// Prints the device-to-device copy bandwidth (bytes read + written), the cuBLASLt bf16 GEMM rate
// at 8192^3 on random data, then for each linear layer of DeepSeek-R1-Distill-Llama-8B the time
// of the skinny kernel (its default and each tiling) and of cuBLASLt at m = 1, 2, 4, 8 and the
// weight bandwidth each reaches as a fraction of the copy bandwidth. Weights rotate among enough copies to exceed the L2 cache,
// so every timing reads HBM as a real decode step does. Then the attention cases (attention_lab.h).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "attention_lab.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/linear.h"
#include "lab_util.h"

namespace kiln::cuda {
namespace {

struct Shape {
  const char* name;
  int n, k;
};
// DeepSeek-R1-Distill-Llama-8B: hidden 4096, 32 q / 8 kv heads of 128, intermediate 14336.
const std::vector<Shape> kShapes = {{"qkv_proj", 6144, 4096},
                                    {"o_proj", 4096, 4096},
                                    {"gate_up_proj", 28672, 4096},
                                    {"down_proj", 4096, 14336},
                                    {"lm_head", 128256, 4096}};

// cuBLASLt at decode batches and a prefill chunk: the heuristic's first algorithm (what
// Linear runs) against each other one it offers, weights rotating beyond L2 as above.
void run_gemm_candidates(CudaContext& context, Linear& linear) {
  cudaStream_t stream = context.stream();
  const int l2_bytes = context.info().l2_cache_bytes;
  std::printf("\n%-13s %5s %-10s %8s %8s %7s %s\n", "layer", "m", "algorithm", "us", "TFLOP/s", "vs #0", "");
  for (const Shape& shape : kShapes) {
    const size_t weight_bytes = size_t{2} * shape.n * shape.k;
    const int copies = static_cast<int>(std::max<size_t>(2, 2 * l2_bytes / weight_bytes + 1));
    std::vector<DeviceBuffer> weights;
    for (int i = 0; i < copies; ++i) weights.push_back(random_device_bf16(static_cast<size_t>(shape.n) * shape.k, 10 + i));
    for (int m : {64, 128, 256, 512, 8192}) {
      DeviceBuffer x = random_device_bf16(static_cast<size_t>(m) * shape.k, 3);
      DeviceBuffer y = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(m) * shape.n * 2).value());
      const int count = linear.cublaslt().algorithm_count(m, shape.n, shape.k);
      float first_ms = 0, best_ms = 1e30f;
      int best = 0;
      for (int a = 0; a < count; ++a) {
        int next = 0;
        const float ms = time_ms(stream, 2, 7, [&](int) {
          for (int i = 0; i < 4; ++i) {
            linear.cublaslt().run_with_algorithm(a, x.as<__nv_bfloat16>(), weights[next++ % copies].as<__nv_bfloat16>(),
                                                 y.as<__nv_bfloat16>(), m, shape.n, shape.k);
          }
        }) / 4;
        if (a == 0) first_ms = ms;
        if (ms < best_ms) best_ms = ms, best = a;
      }
      const double flop = 2.0 * m * shape.n * shape.k;
      std::printf("%-13s %5d #0 of %-4d %8.1f %8.0f\n", shape.name, m, count, first_ms * 1e3, flop / (first_ms * 1e-3) / 1e12);
      std::printf("%-13s %5d best #%-4d %8.1f %8.0f %6.1f%%\n", shape.name, m, best, best_ms * 1e3,
                  flop / (best_ms * 1e-3) / 1e12, 100.0 * (first_ms - best_ms) / first_ms);
    }
  }
}

int run(bool quick, bool attention_only, bool linear_only, bool decode_only, bool gemm_only) {
  auto context_or = CudaContext::create(0);
  if (!context_or.ok()) {
    std::fprintf(stderr, "kernel_lab: %s\n", context_or.message().c_str());
    return 1;
  }
  CudaContext& context = **context_or;
  const DeviceInfo& info = context.info();
  std::printf("device: %s, sm_%d, %d SMs, %.1f GiB, L2 %.0f MiB\n", info.name.c_str(),
              info.compute_capability, info.num_sms, info.total_memory_bytes / 1073741824.0,
              info.l2_cache_bytes / 1048576.0);
  cudaStream_t stream = context.stream();
  if (attention_only) return run_attention_lab(context, quick);
  Linear linear(context);
  if (gemm_only) {
    run_gemm_candidates(context, linear);
    return 0;
  }
  if (decode_only) {
    run_decode_lab(context);
    return 0;
  }

  // Copy ceiling: 4 GiB device-to-device, counting bytes read plus bytes written.
  const size_t copy_bytes = size_t{2} << 30;
  DeviceBuffer source = std::move(DeviceBuffer::try_allocate(copy_bytes).value());
  DeviceBuffer target = std::move(DeviceBuffer::try_allocate(copy_bytes).value());
  KILN_CUDA_CHECK(cudaMemsetAsync(source.data(), 0x3c, copy_bytes, stream));
  const float copy_ms = time_ms(stream, 2, 10, [&](int) {
    KILN_CUDA_CHECK(cudaMemcpyAsync(target.data(), source.data(), copy_bytes, cudaMemcpyDeviceToDevice, stream));
  });
  const double copy_gbps = 2.0 * copy_bytes / (copy_ms * 1e-3) / 1e9;
  std::printf("copy bandwidth (read+write): %.0f GB/s\n", copy_gbps);
  source.reset();
  target.reset();

  {
    const int size = 8192;
    DeviceBuffer a = random_device_bf16(static_cast<size_t>(size) * size, 1);
    DeviceBuffer b = random_device_bf16(static_cast<size_t>(size) * size, 2);
    DeviceBuffer c = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(size) * size * 2).value());
    const float ms = time_ms(stream, 3, 10, [&](int) {
      linear.cublaslt().run(a.as<__nv_bfloat16>(), b.as<__nv_bfloat16>(), nullptr,
                            c.as<__nv_bfloat16>(), size, size, size);
    });
    std::printf("cuBLASLt bf16 GEMM 8192^3: %.0f TFLOP/s\n", 2.0 * size * size * size / (ms * 1e-3) / 1e12);
  }

  const std::vector<int> rows = quick ? std::vector<int>{1, 8} : std::vector<int>{1, 2, 4, 8};
  struct Tiling {
    int rows_per_block, unroll;
  };
  const std::vector<Tiling> tilings = {{2, 4}, {4, 1}, {4, 2}, {8, 1}, {8, 2}};
  // Each timing is kBackToBack launches in a row over rotating weight copies, as a decode step
  // runs them, divided by kBackToBack: one launch alone would mostly time the launch.
  constexpr int kBackToBack = 16;
  std::printf("\n%-13s %3s %-16s %8s %7s %7s\n", "layer", "m", "kernel", "us", "GB/s", "%copy");
  for (const Shape& shape : kShapes) {
    const size_t weight_bytes = size_t{2} * shape.n * shape.k;
    const int copies = static_cast<int>(std::max<size_t>(2, 4 * info.l2_cache_bytes / weight_bytes + 1));
    std::vector<DeviceBuffer> weights;
    for (int i = 0; i < copies; ++i) weights.push_back(random_device_bf16(static_cast<size_t>(shape.n) * shape.k, 10 + i));
    DeviceBuffer x = random_device_bf16(static_cast<size_t>(kSkinnyMaxRows) * shape.k, 3);
    DeviceBuffer y = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(kSkinnyMaxRows) * shape.n * 2).value());
    auto report = [&](int m, const std::string& kernel, const std::function<void(const __nv_bfloat16*)>& body) {
      int next = 0;
      const float ms = time_ms(stream, 2, 20, [&](int) {
        for (int i = 0; i < kBackToBack; ++i) body(weights[next++ % copies].as<__nv_bfloat16>());
      }) / kBackToBack;
      const double gbps = weight_bytes / (ms * 1e-3) / 1e9;
      std::printf("%-13s %3d %-16s %8.1f %7.0f %6.1f%%\n", shape.name, m, kernel.c_str(), ms * 1e3, gbps,
                  100 * gbps / copy_gbps);
    };
    for (int m : rows) {
      report(m, "skinny(default)", [&](const __nv_bfloat16* w) {
        skinny_linear(x.as<__nv_bfloat16>(), w, nullptr, y.as<__nv_bfloat16>(), m, shape.n, shape.k, stream);
      });
      for (const Tiling& tiling : tilings) {
        if (quick && tiling.rows_per_block == 2) continue;
        report(m, "skinny r" + std::to_string(tiling.rows_per_block) + " u" + std::to_string(tiling.unroll),
               [&](const __nv_bfloat16* w) {
                 skinny_linear_variant(x.as<__nv_bfloat16>(), w, y.as<__nv_bfloat16>(), m, shape.n, shape.k,
                                       tiling.rows_per_block, tiling.unroll, stream);
               });
      }
      report(m, "cublaslt", [&](const __nv_bfloat16* w) {
        linear.cublaslt().run(x.as<__nv_bfloat16>(), w, nullptr, y.as<__nv_bfloat16>(), m, shape.n, shape.k);
      });
    }
  }
  if (linear_only) return 0;
  run_decode_lab(context);
  return run_attention_lab(context, quick);
}

}  // namespace
}  // namespace kiln::cuda

int main(int argc, char** argv) {
  bool quick = false, attention_only = false, linear_only = false, decode_only = false, gemm_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--attention") == 0) {
      attention_only = true;
    } else if (std::strcmp(argv[i], "--linear") == 0) {
      linear_only = true;
    } else if (std::strcmp(argv[i], "--decode") == 0) {
      decode_only = true;
    } else if (std::strcmp(argv[i], "--gemm") == 0) {
      gemm_only = true;
    } else {
      std::fprintf(stderr, "kernel_lab: unknown argument '%s' (usage: kernel_lab [--quick] [--attention | --linear | --decode | --gemm])\n", argv[i]);
      return 2;
    }
  }
  return kiln::cuda::run(quick, attention_only, linear_only, decode_only, gemm_only);
}
