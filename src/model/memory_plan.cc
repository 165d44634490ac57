#include "model/memory_plan.h"

namespace kiln {

int64_t kv_bytes_per_block(const ModelConfig& config, int block_size, DType kv_dtype) {
  return int64_t{2} * config.num_hidden_layers * block_size * config.num_key_value_heads * config.head_dim *
         static_cast<int64_t>(dtype_size_bytes(kv_dtype));
}

}  // namespace kiln
