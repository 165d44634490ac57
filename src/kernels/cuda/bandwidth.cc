#include "kernels/cuda/bandwidth.h"

#include <algorithm>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"

namespace kiln::cuda {

Result<double> measure_copy_bandwidth_gbps(size_t buffer_bytes) {
  KILN_ASSIGN_OR_RETURN(DeviceBuffer source, DeviceBuffer::try_allocate(buffer_bytes));
  KILN_ASSIGN_OR_RETURN(DeviceBuffer target, DeviceBuffer::try_allocate(buffer_bytes));
  cudaStream_t stream;
  KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  KILN_CUDA_CHECK(cudaMemsetAsync(source.data(), 0x3c, buffer_bytes, stream));
  cudaEvent_t start, stop;
  KILN_CUDA_CHECK(cudaEventCreate(&start));
  KILN_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> times;
  for (int i = 0; i < 12; ++i) {
    KILN_CUDA_CHECK(cudaEventRecord(start, stream));
    KILN_CUDA_CHECK(cudaMemcpyAsync(target.data(), source.data(), buffer_bytes, cudaMemcpyDeviceToDevice, stream));
    KILN_CUDA_CHECK(cudaEventRecord(stop, stream));
    KILN_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (i >= 2) times.push_back(ms);  // the first two warm up
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  std::sort(times.begin(), times.end());
  return 2.0 * static_cast<double>(buffer_bytes) / (times[times.size() / 2] * 1e-3) / 1e9;
}

}  // namespace kiln::cuda
