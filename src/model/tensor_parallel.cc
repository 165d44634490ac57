#include "model/tensor_parallel.h"

#include <algorithm>
#include <string>

#include "base/check.h"

namespace kiln {
namespace {

std::string flag(int size) { return "--tensor-parallel-size " + std::to_string(size) + ": "; }

}  // namespace

Status check_tensor_parallel(const ModelConfig& c, int size) {
  if (size < 1) return Status::error(flag(size) + "must be at least 1");
  if (size == 1) return ok_status();
  if (c.num_attention_heads % size != 0) {
    return Status::error(flag(size) + "config.json's num_attention_heads (" + std::to_string(c.num_attention_heads) +
                         ") is not a multiple of it");
  }
  if (c.num_key_value_heads % size != 0 && size % c.num_key_value_heads != 0) {
    return Status::error(flag(size) + "config.json's num_key_value_heads (" + std::to_string(c.num_key_value_heads) +
                         ") neither divides it nor is a multiple of it");
  }
  if (c.intermediate_size % size != 0) {
    return Status::error(flag(size) + "config.json's intermediate_size (" + std::to_string(c.intermediate_size) +
                         ") is not a multiple of it");
  }
  const int per_rank = (c.vocab_size + size - 1) / size;
  if (per_rank * (size - 1) >= c.vocab_size) {
    return Status::error(flag(size) + "config.json's vocab_size (" + std::to_string(c.vocab_size) +
                         ") leaves a rank without vocabulary rows");
  }
  return ok_status();
}

ShardShape shard_shape(const ModelConfig& c, int rank, int size) {
  KILN_CHECK(rank >= 0 && rank < size) << "rank " << rank << " of " << size;
  ShardShape s;
  s.rank = rank;
  s.size = size;
  s.num_heads = c.num_attention_heads / size;
  s.head_begin = rank * s.num_heads;
  if (c.num_key_value_heads >= size) {
    s.num_kv_heads = c.num_key_value_heads / size;
    s.kv_head_begin = rank * s.num_kv_heads;
  } else {
    // size / num_kv_heads consecutive ranks share a KV head: their query heads are its group.
    s.num_kv_heads = 1;
    s.kv_head_begin = rank / (size / c.num_key_value_heads);
  }
  s.intermediate_size = c.intermediate_size / size;
  s.intermediate_begin = rank * s.intermediate_size;
  s.vocab_rows_per_rank = (c.vocab_size + size - 1) / size;
  s.vocab_begin = rank * s.vocab_rows_per_rank;
  s.vocab_rows = std::min(c.vocab_size - s.vocab_begin, s.vocab_rows_per_rank);
  return s;
}

ModelConfig shard_config(const ModelConfig& config, const ShardShape& shard) {
  ModelConfig local = config;
  local.num_attention_heads = shard.num_heads;
  local.num_key_value_heads = shard.num_kv_heads;
  local.intermediate_size = shard.intermediate_size;
  return local;
}

}  // namespace kiln
