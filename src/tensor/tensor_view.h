// A non-owning view of a dense, row-major tensor in host or device memory. Weights are views
// into memory-mapped safetensors files (host) or device buffers; the owner outlives the view.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace kiln {

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // outermost first; empty for a missing optional tensor

  bool empty() const { return data == nullptr; }
  int64_t num_elements() const {
    int64_t count = 1;
    for (int64_t dim : shape) count *= dim;
    return shape.empty() ? 0 : count;
  }
  size_t size_bytes() const { return static_cast<size_t>(num_elements()) * dtype_size_bytes(dtype); }
  int64_t dim(int index) const { return shape.at(static_cast<size_t>(index)); }
};

// "[14336, 4096]"
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace kiln
