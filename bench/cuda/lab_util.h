// Shared helpers of the kernel lab: event timing and random device data.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "tensor/dtype.h"

namespace kiln::cuda {

// Median milliseconds of `repeats` timed runs of `body` after `warmup` untimed ones.
inline float time_ms(cudaStream_t stream, int warmup, int repeats, const std::function<void(int)>& body) {
  for (int i = 0; i < warmup; ++i) body(i);
  std::vector<float> times;
  cudaEvent_t start, stop;
  KILN_CUDA_CHECK(cudaEventCreate(&start));
  KILN_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < repeats; ++i) {
    KILN_CUDA_CHECK(cudaEventRecord(start, stream));
    body(i);
    KILN_CUDA_CHECK(cudaEventRecord(stop, stream));
    KILN_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Uniform bf16 values in [-scale, scale) (never zeros: they time and check unlike real data).
inline DeviceBuffer random_device_bf16(size_t count, uint32_t seed, float scale = 0.05f) {
  std::vector<uint16_t> host(count);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (auto& value : host) value = f32_to_bf16(dist(rng));
  DeviceBuffer buffer = std::move(DeviceBuffer::try_allocate(count * 2).value());
  KILN_CUDA_CHECK(cudaMemcpy(buffer.data(), host.data(), count * 2, cudaMemcpyHostToDevice));
  return buffer;
}

}  // namespace kiln::cuda
