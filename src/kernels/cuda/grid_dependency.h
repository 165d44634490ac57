// The host side of programmatic dependent launch (grid_dependency.cuh), for code compiled
// without nvcc.
#pragma once

namespace kiln::cuda {

// Whether launches carry the programmatic-serialization attribute: the current device is sm_90
// or later (asked once: kiln drives one device per process) and the launches are allowed.
bool grid_dependency_launches();

// Allowed by default; CudaModel applies its options' programmatic_dependent_launch here (the
// CLI turns it off for KILN_CUDA_PDL=0, to measure the difference). A process-wide switch rather
// than an argument: the launchers take only a stream, as their CPU twins' signatures do.
void allow_grid_dependency_launches(bool allowed);

}  // namespace kiln::cuda
