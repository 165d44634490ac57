#include <cstdlib>
#include <cstring>

#include "kernels/cuda/grid_dependency.cuh"

namespace kiln::cuda {

bool grid_dependency_launches() {
  static const bool enabled = [] {
    const char* setting = std::getenv("KILN_CUDA_PDL");
    if (setting && std::strcmp(setting, "0") == 0) return false;
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return enabled;
}

}  // namespace kiln::cuda
