#include <atomic>

#include "kernels/cuda/grid_dependency.cuh"

namespace kiln::cuda {
namespace {

std::atomic<bool> launches_allowed{true};

bool device_supports_grid_dependency() {
  static const bool supported = [] {
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return supported;
}

}  // namespace

void allow_grid_dependency_launches(bool allowed) { launches_allowed.store(allowed, std::memory_order_relaxed); }

bool grid_dependency_launches() {
  return launches_allowed.load(std::memory_order_relaxed) && device_supports_grid_dependency();
}

}  // namespace kiln::cuda
