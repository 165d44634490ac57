// kernel_lab: ceilings, linear-layer and attention speed on the GPU, timed with CUDA events.
//
//   kernel_lab [--quick] [--attention]   (--attention: the attention cases alone)
//
// Prints the device-to-device copy bandwidth (bytes read + written), the cuBLASLt bf16 GEMM rate
// at 8192^3 on random data, then for each linear layer of DeepSeek-R1-Distill-Llama-8B the time
// of the skinny kernel and of cuBLASLt at m = 1, 2, 4, 8 and the weight bandwidth each reaches
// as a fraction of the copy bandwidth. Weights rotate among enough copies to exceed the L2 cache,
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

int run(bool quick, bool attention_only) {
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

  Linear linear(context);
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

  struct Shape {
    const char* name;
    int n, k;
  };
  // DeepSeek-R1-Distill-Llama-8B: hidden 4096, 32 q / 8 kv heads of 128, intermediate 14336.
  const std::vector<Shape> shapes = {{"qkv_proj", 6144, 4096},
                                     {"o_proj", 4096, 4096},
                                     {"gate_up_proj", 28672, 4096},
                                     {"down_proj", 4096, 14336},
                                     {"lm_head", 128256, 4096}};
  const std::vector<int> rows = quick ? std::vector<int>{1, 8} : std::vector<int>{1, 2, 4, 8};
  std::printf("\n%-13s %3s %10s %9s %7s %10s %9s %7s\n", "layer", "m", "skinny_us", "GB/s", "%copy",
              "cublas_us", "GB/s", "%copy");
  for (const Shape& shape : shapes) {
    const size_t weight_bytes = size_t{2} * shape.n * shape.k;
    const int copies = static_cast<int>(std::max<size_t>(2, 4 * info.l2_cache_bytes / weight_bytes + 1));
    std::vector<DeviceBuffer> weights;
    for (int i = 0; i < copies; ++i) weights.push_back(random_device_bf16(static_cast<size_t>(shape.n) * shape.k, 10 + i));
    DeviceBuffer x = random_device_bf16(static_cast<size_t>(kSkinnyMaxRows) * shape.k, 3);
    DeviceBuffer y = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(kSkinnyMaxRows) * shape.n * 2).value());
    for (int m : rows) {
      const float skinny_ms = time_ms(stream, copies, 50, [&](int i) {
        skinny_linear(x.as<__nv_bfloat16>(), weights[i % copies].as<__nv_bfloat16>(), nullptr,
                      y.as<__nv_bfloat16>(), m, shape.n, shape.k, stream);
      });
      const float cublas_ms = time_ms(stream, copies, 50, [&](int i) {
        linear.cublaslt().run(x.as<__nv_bfloat16>(), weights[i % copies].as<__nv_bfloat16>(), nullptr,
                              y.as<__nv_bfloat16>(), m, shape.n, shape.k);
      });
      const double skinny_gbps = weight_bytes / (skinny_ms * 1e-3) / 1e9;
      const double cublas_gbps = weight_bytes / (cublas_ms * 1e-3) / 1e9;
      std::printf("%-13s %3d %10.1f %9.0f %6.1f%% %10.1f %9.0f %6.1f%%\n", shape.name, m,
                  skinny_ms * 1e3, skinny_gbps, 100 * skinny_gbps / copy_gbps, cublas_ms * 1e3,
                  cublas_gbps, 100 * cublas_gbps / copy_gbps);
    }
  }
  return run_attention_lab(context, quick);
}

}  // namespace
}  // namespace kiln::cuda

int main(int argc, char** argv) {
  bool quick = false, attention_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--attention") == 0) {
      attention_only = true;
    } else {
      std::fprintf(stderr, "kernel_lab: unknown argument '%s' (usage: kernel_lab [--quick] [--attention])\n", argv[i]);
      return 2;
    }
  }
  return kiln::cuda::run(quick, attention_only);
}
