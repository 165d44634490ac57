#include "model/kv_cache_storage.h"

namespace kiln {

KvCacheStorage::KvCacheStorage(const KvCacheShape& shape) : shape_(shape) {
  const size_t floats = static_cast<size_t>(shape.floats_per_layer());
  k_.assign(static_cast<size_t>(shape.num_layers), std::vector<float>(floats, 0.0f));
  v_.assign(static_cast<size_t>(shape.num_layers), std::vector<float>(floats, 0.0f));
}

}  // namespace kiln
