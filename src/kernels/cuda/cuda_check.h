// CUDA and cuBLASLt API failures are broken invariants (out of memory aside, which the memory
// plan prevents): they abort with file:line and the library's own error text.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

namespace kiln::cuda::detail {

[[noreturn]] inline void cuda_failed(const char* file, int line, const char* call, const char* what) {
  std::fprintf(stderr, "FATAL %s:%d: %s failed: %s\n", file, line, call, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace kiln::cuda::detail

#define KILN_CUDA_CHECK(call)                                                               \
  do {                                                                                      \
    const cudaError_t kiln_cuda_error_ = (call);                                            \
    if (kiln_cuda_error_ != cudaSuccess) {                                                  \
      ::kiln::cuda::detail::cuda_failed(__FILE__, __LINE__, #call,                          \
                                        cudaGetErrorString(kiln_cuda_error_));              \
    }                                                                                       \
  } while (0)

#define KILN_CUBLAS_CHECK(call)                                                             \
  do {                                                                                      \
    const cublasStatus_t kiln_cublas_status_ = (call);                                      \
    if (kiln_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                     \
      ::kiln::cuda::detail::cuda_failed(__FILE__, __LINE__, #call,                          \
                                        cublasLtGetStatusString(kiln_cublas_status_));        \
    }                                                                                       \
  } while (0)

// After every kernel launch: launch-configuration errors surface here, not steps later.
#define KILN_CUDA_CHECK_LAUNCH() KILN_CUDA_CHECK(cudaGetLastError())
