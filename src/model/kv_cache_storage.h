// The memory behind the paged KV cache on the CPU: per layer, K and V each
// [num_blocks, block_size, num_kv_heads, head_dim] f32 (the layout of model/forward_batch.h).
// Which blocks belong to which sequence is the engine's business (kvcache/); this only holds bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln {

struct KvCacheShape {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;

  int64_t floats_per_layer() const {
    return static_cast<int64_t>(num_blocks) * block_size * num_kv_heads * head_dim;
  }
  // K and V of one block in every layer: what --kv-cache-memory is divided by.
  int64_t block_bytes() const {
    return 2 * static_cast<int64_t>(num_layers) * block_size * num_kv_heads * head_dim *
           static_cast<int64_t>(sizeof(float));
  }
  // K and V of every layer.
  int64_t size_bytes() const {
    return 2 * static_cast<int64_t>(num_layers) * floats_per_layer() *
           static_cast<int64_t>(sizeof(float));
  }
};

class KvCacheStorage {
 public:
  explicit KvCacheStorage(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
  float* k(int layer) { return k_[static_cast<size_t>(layer)].data(); }
  float* v(int layer) { return v_[static_cast<size_t>(layer)].data(); }
  const float* k(int layer) const { return k_[static_cast<size_t>(layer)].data(); }
  const float* v(int layer) const { return v_[static_cast<size_t>(layer)].data(); }

 private:
  KvCacheShape shape_;
  std::vector<std::vector<float>>
      k_;  // [num_layers][num_blocks * block_size * kv_heads * head_dim]
  std::vector<std::vector<float>> v_;
};

}  // namespace kiln
