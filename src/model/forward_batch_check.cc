#include "model/forward_batch_check.h"

#include <string>

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
      const int position = seq_len - (end - begin) + (t - begin);
      const std::string token = "token " + std::to_string(t) + " (" + seq + ")";
      if (b.positions[static_cast<size_t>(t)] != position) {
        return fail(token + " has position " + std::to_string(b.positions[static_cast<size_t>(t)]) +
                    ", seq_lens implies " + std::to_string(position));
      }
      const int64_t slot =
          static_cast<int64_t>(table[position / block_size]) * block_size +
          position % block_size;
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
  for (int32_t row : b.logits_indices) {
    if (row < 0 || row >= num_tokens) {
      return fail("logits index " + std::to_string(row) + " outside [0, " +
                  std::to_string(num_tokens) + ")");
    }
  }
  return ok_status();
}

}  // namespace kiln
