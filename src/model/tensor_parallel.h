// How a Llama/Qwen2 model splits over the ranks of a tensor-parallel group, Megatron-style as vLLM
// splits it: q/k/v and gate/up are column-parallel (each rank holds whole heads and a slice of the
// intermediate width), o_proj and down_proj row-parallel (each rank's partial output is summed by
// one all-reduce), embed_tokens and lm_head vocab-parallel (each rank holds a range of vocabulary
// rows: the embedding is summed by an all-reduce, the logits gathered). KV heads split like query
// heads while there are at least as many as ranks; with fewer (GQA with 8 KV heads at TP 16, MQA)
// each rank holds the one KV head its query heads read, replicated over size / num_kv_heads ranks.
#pragma once

#include "base/status.h"
#include "model/model_config.h"

namespace kiln {

struct ShardShape {
  int rank = 0;
  int size = 1;              // ranks in the group
  int num_heads = 0;         // query heads of this rank
  int head_begin = 0;        // its first query head (index in the whole model)
  int num_kv_heads = 0;      // KV heads of this rank (1 when replicated)
  int kv_head_begin = 0;     // its first KV head
  int intermediate_size = 0;
  int intermediate_begin = 0;
  int vocab_begin = 0;       // its rows of embed_tokens and lm_head: [vocab_begin, + vocab_rows)
  int vocab_rows = 0;
  // ceil(vocab_size / size): every rank's logits are padded to this width for the gather.
  int vocab_rows_per_rank = 0;
};

// Whether `config` splits over `size` ranks; errors name --tensor-parallel-size and the field of
// config.json that does not divide (vLLM's rules: heads and intermediate_size divide by the size,
// and the size divides by num_key_value_heads or the other way round).
Status check_tensor_parallel(const ModelConfig& config, int size);

// Rank `rank`'s part; check_tensor_parallel must have passed.
ShardShape shard_shape(const ModelConfig& config, int rank, int size);

// The model one rank computes: `config` with this rank's heads, KV heads and intermediate width.
// The vocabulary stays whole (token ids and logits are the model's); the shard's rows of it are in
// ShardShape.
ModelConfig shard_config(const ModelConfig& config, const ShardShape& shard);

}  // namespace kiln
