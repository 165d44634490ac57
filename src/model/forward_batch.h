// The plain-data contract between the engine's scheduler and a model backend for one step: a
// flat list of new tokens from several sequences (prefill chunks and decodes mixed), where their
// K/V go in the paged cache, and which rows need logits. Backends (CPU, CUDA) read only this.
//
// Paged KV layout (as vLLM's FlashAttention backend): per layer, K and V each
// [num_blocks, block_size, num_kv_heads, head_dim]; token t of a sequence lives in block
// block_table[t / block_size] at offset t % block_size, i.e. slot block_id * block_size + offset.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

struct ForwardBatch {
  // Per new token.
  std::vector<int32_t> token_ids;     // [num_tokens]
  std::vector<int32_t> positions;     // [num_tokens] position in its sequence
  std::vector<int64_t> slot_mapping;  // [num_tokens] KV slot its K/V is written to

  // Per sequence, in the order its tokens appear in token_ids.
  std::vector<int32_t> query_start;   // [num_seqs + 1] offsets into token_ids
  std::vector<int32_t> seq_lens;      // [num_seqs] tokens in the KV cache after this step,
                                      // cached prefix and this step's tokens included
  std::vector<int32_t> block_tables;  // [num_seqs, max_blocks_per_seq] row-major, -1 padded
  int32_t max_blocks_per_seq = 0;

  // Rows of token_ids whose logits the step needs (the last token of each sequence that
  // samples; every prompt token when prompt logprobs are asked for).
  std::vector<int32_t> logits_indices;  // [num_logits]

  // Speculative draft trees (engine/spec/draft_tree.h), [num_tokens] or empty when every
  // sequence's new tokens are a chain (each follows the one before, as ever). Per token, the index
  // within its sequence's new tokens of the token it follows, -1 for the sequence's first new
  // token. Token j of a sequence still takes the slot of position seq_len - num_new + j, but its
  // position (for rope) is that of the first new token plus its depth, and its attention sees the
  // cached prefix and its own ancestors only. A chain (parent j - 1 for every j > 0) is the same
  // as no tree.
  std::vector<int32_t> tree_parents;
  // K/V entries copied before the step's forward, in order, from slot kv_move_from[i] to slot
  // kv_move_to[i] in every layer: the accepted nodes of an earlier step's draft tree, moved to their
  // sequence's consecutive positions. No move reads a slot an earlier one wrote.
  std::vector<int64_t> kv_move_from;
  std::vector<int64_t> kv_move_to;

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_seqs() const { return static_cast<int>(seq_lens.size()); }
};

}  // namespace kiln
