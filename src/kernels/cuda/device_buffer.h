// An owning, move-only device allocation (cudaMalloc). The memory plan sizes everything up
// front, so allocation failure is reported as a Status by try_allocate rather than aborting.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "base/status.h"

namespace kiln::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static Result<DeviceBuffer> try_allocate(size_t size_bytes);
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_bytes_(std::exchange(other.size_bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      size_bytes_ = std::exchange(other.size_bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  size_t size_bytes() const { return size_bytes_; }
  void reset();

 private:
  void* data_ = nullptr;
  size_t size_bytes_ = 0;
};

}  // namespace kiln::cuda
