#include "model/forward_batch_check.h"

#include <string>
#include <unordered_set>

namespace kiln {

Status validate_forward_batch(const ForwardBatch& b, int vocab_size, int num_blocks, int block_size,
                              std::span<const int32_t> token_source, int num_source_rows) {
  const int num_tokens = b.num_tokens();
  const int num_seqs = b.num_seqs();
  auto fail = [](const std::string& message) { return Status::error("ForwardBatch: " + message); };
  if (num_tokens == 0) return fail("no tokens");
  if (b.positions.size() != b.token_ids.size() || b.slot_mapping.size() != b.token_ids.size() ||
      (!token_source.empty() && token_source.size() != b.token_ids.size())) {
    return fail("token_ids, positions, slot_mapping and the token sources differ in length");
  }
  if (b.query_start.size() != static_cast<size_t>(num_seqs) + 1 || b.query_start[0] != 0 ||
      b.query_start[static_cast<size_t>(num_seqs)] != num_tokens) {
    return fail("query_start must hold num_seqs + 1 offsets from 0 to num_tokens");
  }
  if (b.max_blocks_per_seq <= 0 ||
      b.block_tables.size() != static_cast<size_t>(num_seqs) * b.max_blocks_per_seq) {
    return fail("block_tables must be [num_seqs, max_blocks_per_seq]");
  }
  if (!b.tree_parents.empty() && b.tree_parents.size() != b.token_ids.size()) {
    return fail("tree_parents must be empty or hold one parent per token");
  }
  for (int s = 0; s < num_seqs; ++s) {
    const int begin = b.query_start[static_cast<size_t>(s)];
    const int end = b.query_start[static_cast<size_t>(s) + 1];
    const int seq_len = b.seq_lens[static_cast<size_t>(s)];
    const std::string seq = "sequence " + std::to_string(s);
    if (end < begin) return fail("query_start decreases at " + seq);
    if (seq_len < end - begin) return fail(seq + " has fewer tokens than this step adds");
    if (seq_len > static_cast<int64_t>(b.max_blocks_per_seq) * block_size) {
      return fail(seq + " of " + std::to_string(seq_len) + " tokens exceeds its block table");
    }
    const int32_t* table = b.block_tables.data() + static_cast<size_t>(s) * b.max_blocks_per_seq;
    for (int j = 0; j < (seq_len + block_size - 1) / block_size; ++j) {
      if (table[j] < 0 || table[j] >= num_blocks) {
        return fail(seq + " block " + std::to_string(j) + " has id " + std::to_string(table[j]) +
                    " outside the cache's " + std::to_string(num_blocks) + " blocks");
      }
    }
    for (int t = begin; t < end; ++t) {
      // Token j of the sequence's new tokens takes the slot of position first + j; its position is
      // first + its depth in a draft tree (first + j in a chain).
      const int first = seq_len - (end - begin);
      const int slot_position = first + (t - begin);
      int position = slot_position;
      const std::string token = "token " + std::to_string(t) + " (" + seq + ")";
      if (!b.tree_parents.empty()) {
        const int parent = b.tree_parents[static_cast<size_t>(t)];
        if (t == begin ? parent != -1 : (parent < 0 || parent >= t - begin)) {
          return fail(token + " has tree parent " + std::to_string(parent) + ", expected " +
                      (t == begin ? std::string("-1 (the sequence's first new token)")
                                  : "one of the sequence's earlier new tokens 0.." + std::to_string(t - begin - 1)));
        }
        if (t > begin) position = b.positions[static_cast<size_t>(begin + parent)] + 1;
      }
      if (b.positions[static_cast<size_t>(t)] != position) {
        return fail(token + " has position " + std::to_string(b.positions[static_cast<size_t>(t)]) +
                    (b.tree_parents.empty() ? ", seq_lens implies " : ", its tree parent implies ") +
                    std::to_string(position));
      }
      const int64_t slot =
          static_cast<int64_t>(table[slot_position / block_size]) * block_size +
          slot_position % block_size;
      if (b.slot_mapping[static_cast<size_t>(t)] != slot) {
        return fail(token + " has slot " + std::to_string(b.slot_mapping[static_cast<size_t>(t)]) +
                    ", its block table implies " + std::to_string(slot));
      }
      if (!token_source.empty() && token_source[static_cast<size_t>(t)] >= 0) {
        if (token_source[static_cast<size_t>(t)] >= num_source_rows) {
          return fail(token + " comes from sampled row " + std::to_string(token_source[static_cast<size_t>(t)]) +
                      " but the previous step sampled " + std::to_string(num_source_rows));
        }
        continue;
      }
      const int id = b.token_ids[static_cast<size_t>(t)];
      if (id < 0 || id >= vocab_size) {
        return fail(token + " has id " + std::to_string(id) + " outside the vocabulary of " +
                    std::to_string(vocab_size));
      }
    }
  }
  if (b.kv_move_from.size() != b.kv_move_to.size()) return fail("kv_move_from and kv_move_to differ in length");
  const int64_t num_slots = static_cast<int64_t>(num_blocks) * block_size;
  std::unordered_set<int64_t> written;
  for (size_t i = 0; i < b.kv_move_from.size(); ++i) {
    const int64_t from = b.kv_move_from[i], to = b.kv_move_to[i];
    if (from < 0 || from >= num_slots || to < 0 || to >= num_slots) {
      return fail("KV move " + std::to_string(i) + " (slot " + std::to_string(from) + " to " + std::to_string(to) +
                  ") leaves the cache's " + std::to_string(num_slots) + " slots");
    }
    if (written.count(from) > 0) {
      return fail("KV move " + std::to_string(i) + " reads slot " + std::to_string(from) + ", which an earlier move wrote");
    }
    written.insert(to);
  }
  for (int32_t row : b.logits_indices) {
    if (row < 0 || row >= num_tokens) {
      return fail("logits index " + std::to_string(row) + " outside [0, " +
                  std::to_string(num_tokens) + ")");
    }
  }
  return ok_status();
}

}  // namespace kiln
