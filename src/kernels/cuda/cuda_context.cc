#include "kernels/cuda/cuda_context.h"

#include "kernels/cuda/cuda_check.h"

namespace kiln::cuda {
namespace {
// cuBLASLt's recommendation for Hopper is 32 MiB so that split-K and stream-K kernels can run.
constexpr size_t kCublasWorkspaceBytes = 32u << 20;
}  // namespace

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

Result<std::unique_ptr<CudaContext>> CudaContext::create(int device) {
  const int count = device_count();
  if (device < 0 || device >= count) {
    return Status::error("CUDA device " + std::to_string(device) + " does not exist (" +
                         std::to_string(count) + " visible)");
  }
  KILN_CUDA_CHECK(cudaSetDevice(device));
  std::unique_ptr<CudaContext> context(new CudaContext());
  cudaDeviceProp props{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
  DeviceInfo& info = context->info_;
  info.device = device;
  info.name = props.name;
  info.compute_capability = props.major * 10 + props.minor;
  info.num_sms = props.multiProcessorCount;
  info.total_memory_bytes = props.totalGlobalMem;
  info.l2_cache_bytes = static_cast<size_t>(props.l2CacheSize);
  info.max_shared_memory_per_block_bytes = props.sharedMemPerBlockOptin;
  KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&context->stream_, cudaStreamNonBlocking));
  KILN_CUBLAS_CHECK(cublasLtCreate(&context->cublaslt_));
  KILN_ASSIGN_OR_RETURN(context->workspace_, DeviceBuffer::try_allocate(kCublasWorkspaceBytes));
  return context;
}

CudaContext::~CudaContext() {
  if (cublaslt_) cublasLtDestroy(cublaslt_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaContext::synchronize() const { KILN_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace kiln::cuda
