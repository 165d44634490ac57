#include "kernels/cuda/device_buffer.h"

#include <string>

#include "base/byte_size.h"
#include "kernels/cuda/cuda_check.h"

namespace kiln::cuda {

Result<DeviceBuffer> DeviceBuffer::try_allocate(size_t size_bytes) {
  DeviceBuffer buffer;
  if (size_bytes == 0) return buffer;
  const cudaError_t error = cudaMalloc(&buffer.data_, size_bytes);
  if (error != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls are not blamed
    return Status::error("cannot allocate " + format_bytes(static_cast<int64_t>(size_bytes)) +
                         " of GPU memory: " + cudaGetErrorString(error));
  }
  buffer.size_bytes_ = size_bytes;
  return buffer;
}

void DeviceBuffer::reset() {
  if (data_) KILN_CUDA_CHECK(cudaFree(data_));
  data_ = nullptr;
  size_bytes_ = 0;
}

}  // namespace kiln::cuda
