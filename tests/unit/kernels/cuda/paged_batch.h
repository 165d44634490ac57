// A paged-attention test step laid out as the engine lays one out: each sequence's blocks
// scattered over the pool (a shuffled permutation, so no table is contiguous), the query offsets,
// and the metadata the CPU twin (host arrays) and the kernels (device copies) read.
#pragma once

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "cuda_test_util.h"
#include "kernels/ops.h"

namespace kiln::cuda::testing {

struct AttentionCase {
  const char* name;
  AttentionShape shape;
  std::vector<int> new_tokens;  // per sequence
  std::vector<int> seq_lens;    // per sequence, cached prefix included
};

struct PagedBatch {
  PagedBatch(const AttentionCase& c, std::mt19937& rng, int block_size = 16) : seq_lens(c.seq_lens) {
    metadata.block_size = block_size;
    metadata.num_seqs = static_cast<int>(seq_lens.size());
    for (int len : seq_lens) {
      metadata.max_blocks_per_seq = std::max(metadata.max_blocks_per_seq, blocks_for(len));
      metadata.max_seq_len = std::max(metadata.max_seq_len, len);
    }
    num_blocks = metadata.max_blocks_per_seq * metadata.num_seqs + 3;
    std::vector<int32_t> pool_order(num_blocks);
    std::iota(pool_order.begin(), pool_order.end(), 0);
    std::shuffle(pool_order.begin(), pool_order.end(), rng);
    block_tables.assign(static_cast<size_t>(metadata.num_seqs) * metadata.max_blocks_per_seq, -1);
    query_start = {0};
    int next = 0;
    for (int s = 0; s < metadata.num_seqs; ++s) {
      for (int b = 0; b < blocks_for(seq_lens[s]); ++b) {
        block_tables[static_cast<size_t>(s) * metadata.max_blocks_per_seq + b] = pool_order[next++];
      }
      query_start.push_back(query_start.back() + c.new_tokens[s]);
    }
    metadata.num_tokens = query_start.back();
    // The true value, so decode-only steps take the decode kernel (0 would run the prefill path).
    metadata.max_query_len = *std::max_element(c.new_tokens.begin(), c.new_tokens.end());
    metadata.query_start = query_start.data();
    metadata.seq_lens = seq_lens.data();
    metadata.block_tables = block_tables.data();
  }
  PagedBatch(const PagedBatch&) = delete;  // metadata points into this object

  int blocks_for(int len) const { return (len + metadata.block_size - 1) / metadata.block_size; }
  int num_tokens() const { return metadata.num_tokens; }
  size_t cache_elements(const AttentionShape& shape) const {
    return static_cast<size_t>(num_blocks) * metadata.block_size * shape.num_kv_heads * shape.head_dim;
  }
  size_t query_elements(const AttentionShape& shape) const {
    return static_cast<size_t>(metadata.num_tokens) * shape.num_heads * shape.head_dim;
  }
  bool decode_only() const { return metadata.max_query_len == 1; }

  std::vector<int32_t> seq_lens, block_tables, query_start;
  int num_blocks = 0;
  PagedAttentionMetadata metadata;  // host pointers, for the CPU twin
};

// The batch's arrays on the device and the metadata the kernels read.
struct DevicePagedBatch {
  explicit DevicePagedBatch(const PagedBatch& batch)
      : query_start(upload_raw(batch.query_start)),
        seq_lens(upload_raw(batch.seq_lens)),
        block_tables(upload_raw(batch.block_tables)),
        metadata(batch.metadata) {
    metadata.query_start = query_start.as<int32_t>();
    metadata.seq_lens = seq_lens.as<int32_t>();
    metadata.block_tables = block_tables.as<int32_t>();
  }
  DeviceBuffer query_start, seq_lens, block_tables;
  PagedAttentionMetadata metadata;
};

}  // namespace kiln::cuda::testing
