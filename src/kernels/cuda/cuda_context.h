// Per-device state every CUDA op takes explicitly (no globals): the device, the stream the
// engine's steps run on, the cuBLASLt handle and its workspace, and the device's limits.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "base/status.h"
#include "kernels/cuda/device_buffer.h"

namespace kiln::cuda {

struct DeviceInfo {
  int device = 0;
  std::string name;
  int compute_capability = 0;  // 90 for Hopper
  int num_sms = 0;
  size_t total_memory_bytes = 0;
  size_t l2_cache_bytes = 0;
  size_t max_shared_memory_per_block_bytes = 0;  // opt-in limit
};

// Number of CUDA devices; 0 when there is no driver or no GPU (CI), never an error.
int device_count();

class CudaContext {
 public:
  // Creates the stream, the cuBLASLt handle and a workspace on `device`.
  static Result<std::unique_ptr<CudaContext>> create(int device);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  const DeviceInfo& info() const { return info_; }
  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t cublaslt() const { return cublaslt_; }
  void* workspace() const { return workspace_.data(); }
  size_t workspace_bytes() const { return workspace_.size_bytes(); }
  void synchronize() const;

 private:
  CudaContext() = default;
  DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  DeviceBuffer workspace_;
};

}  // namespace kiln::cuda
