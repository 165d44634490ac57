// Helpers for CUDA parity tests: skip without a GPU, move bf16 data between host and device,
// and compare against a double-precision host reference by relative L2 error.
#pragma once

#include <cuda_bf16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/device_buffer.h"
#include "tensor/dtype.h"

namespace kiln::cuda::testing {

#define KILN_SKIP_WITHOUT_GPU() \
  if (::kiln::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device (runs on the GPU machine)"

// Fresh random bf16 values in [-scale, scale); never zeros (they hide unwritten outputs).
inline std::vector<uint16_t> random_bf16(size_t count, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<uint16_t> values(count);
  for (auto& value : values) value = f32_to_bf16(dist(rng));
  return values;
}

// Any plain array to the device (at least one byte allocated, so empty arrays give a valid pointer).
template <typename T>
DeviceBuffer upload_raw(const std::vector<T>& host) {
  DeviceBuffer buffer = std::move(DeviceBuffer::try_allocate(std::max<size_t>(1, host.size() * sizeof(T))).value());
  if (!host.empty()) {
    KILN_CUDA_CHECK(cudaMemcpy(buffer.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  return buffer;
}

// Any plain array back from the device.
template <typename T>
std::vector<T> download_raw(const DeviceBuffer& buffer, size_t count) {
  std::vector<T> host(count);
  KILN_CUDA_CHECK(cudaMemcpy(host.data(), buffer.data(), count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

// bf16 bit patterns widened to f32, for the CPU twins.
inline std::vector<float> widen(const std::vector<uint16_t>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = bf16_to_f32(values[i]);
  return out;
}

inline DeviceBuffer upload(const std::vector<uint16_t>& host) {
  DeviceBuffer buffer = std::move(DeviceBuffer::try_allocate(host.size() * 2).value());
  KILN_CUDA_CHECK(cudaMemcpy(buffer.data(), host.data(), host.size() * 2, cudaMemcpyHostToDevice));
  return buffer;
}

// A device buffer filled with NaN bit patterns, so unwritten outputs fail the comparison.
inline DeviceBuffer poisoned_bf16(size_t count) {
  std::vector<uint16_t> nan(count, 0x7fc1);
  return upload(nan);
}

inline std::vector<float> download_bf16(const DeviceBuffer& buffer, size_t count) {
  std::vector<uint16_t> raw(count);
  KILN_CUDA_CHECK(cudaMemcpy(raw.data(), buffer.data(), count * 2, cudaMemcpyDeviceToHost));
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = bf16_to_f32(raw[i]);
  return values;
}

// ||out - ref|| / ||ref|| over the elements where include(i) holds; a NaN or infinity among them
// gives infinity.
template <typename Ref, typename Include>
double relative_error(const std::vector<float>& out, const std::vector<Ref>& ref, Include include) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!include(i)) continue;
    if (!std::isfinite(out[i])) return INFINITY;
    const double delta = static_cast<double>(out[i]) - static_cast<double>(ref[i]);
    diff += delta * delta;
    norm += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

// The same over every element.
template <typename Ref>
double relative_error(const std::vector<float>& out, const std::vector<Ref>& ref) {
  return relative_error(out, ref, [](size_t) { return true; });
}

}  // namespace kiln::cuda::testing
