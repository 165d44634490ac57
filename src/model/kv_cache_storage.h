// The memory behind the paged KV cache on the CPU: per layer, K and V each
// [num_blocks, block_size, num_kv_heads, head_dim] (the layout of model/forward_batch.h), as f32
// or as FP8 E4M3 codes with one scale per tensor and layer (--kv-cache-dtype fp8).
// Which blocks belong to which sequence is the engine's business (kvcache/); this only holds bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace kiln {

struct KvCacheShape {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::kF32;  // kF32 or kF8E4M3

  int64_t elements_per_layer() const {
    return static_cast<int64_t>(num_blocks) * block_size * num_kv_heads * head_dim;
  }
  // K and V of one block in every layer: what --kv-cache-memory is divided by.
  int64_t block_bytes() const {
    return 2 * static_cast<int64_t>(num_layers) * block_size * num_kv_heads * head_dim *
           static_cast<int64_t>(dtype_size_bytes(dtype));
  }
  // K and V of every layer.
  int64_t size_bytes() const {
    return 2 * static_cast<int64_t>(num_layers) * elements_per_layer() * static_cast<int64_t>(dtype_size_bytes(dtype));
  }
};

class KvCacheStorage {
 public:
  explicit KvCacheStorage(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
  bool fp8() const { return shape_.dtype == DType::kF8E4M3; }
  // f32 caches.
  float* k(int layer) { return k_[static_cast<size_t>(layer)].data(); }
  float* v(int layer) { return v_[static_cast<size_t>(layer)].data(); }
  // FP8 caches: the layer's codes, its scales (1.0 until set) and the cache's clip flag.
  Fp8KvCacheLayer fp8_layer(int layer);
  // [num_layers][k_scale, v_scale]
  std::vector<float>& scales() { return scales_; }
  int32_t saturated() const { return saturated_; }

 private:
  KvCacheShape shape_;
  std::vector<std::vector<float>> k_, v_;           // f32: [num_layers][elements_per_layer]
  std::vector<std::vector<uint8_t>> k_codes_, v_codes_;  // fp8: [num_layers][elements_per_layer]
  std::vector<float> scales_;
  int32_t saturated_ = 0;
};

}  // namespace kiln
