#include "model/kv_cache_storage.h"

#include "base/check.h"

namespace kiln {

KvCacheStorage::KvCacheStorage(const KvCacheShape& shape) : shape_(shape) {
  KILN_CHECK(shape.dtype == DType::kF32 || shape.dtype == DType::kF8E4M3)
      << "the CPU KV cache holds f32 or fp8_e4m3, not " << dtype_name(shape.dtype);
  const size_t elements = static_cast<size_t>(shape.elements_per_layer());
  const size_t layers = static_cast<size_t>(shape.num_layers);
  if (fp8()) {
    k_codes_.assign(layers, std::vector<uint8_t>(elements, 0));
    v_codes_.assign(layers, std::vector<uint8_t>(elements, 0));
    scales_.assign(2 * layers, 1.0f);
  } else {
    k_.assign(layers, std::vector<float>(elements, 0.0f));
    v_.assign(layers, std::vector<float>(elements, 0.0f));
  }
}

Fp8KvCacheLayer KvCacheStorage::fp8_layer(int layer) {
  const size_t l = static_cast<size_t>(layer);
  return {k_codes_[l].data(), v_codes_[l].data(), &scales_[2 * l], &scales_[2 * l + 1], &saturated_};
}

}  // namespace kiln
