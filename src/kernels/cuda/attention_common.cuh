// Pieces the attention kernels share (paged_attention.cu, decode_attention.cu): finding a query
// token's sequence, and merging split-KV partial records.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace kiln::cuda {

// The sequence whose new tokens [query_start[s], query_start[s + 1]) include `token`.
__device__ __forceinline__ int find_sequence(const int32_t* query_start, int num_seqs, int token) {
  int low = 0, high = num_seqs - 1;
  while (low < high) {
    const int mid = (low + high + 1) / 2;
    if (query_start[mid] <= token) low = mid;
    else high = mid - 1;
  }
  return low;
}

// Split-KV records (one per query token, head and split) the attention workspace holds: enough
// for four waves of 16 resident blocks per SM, each with up to 8 query heads.
inline size_t attention_split_records(int num_sms) { return static_cast<size_t>(4) * 16 * 8 * num_sms; }

// Merges `num_splits` records per (slot, head) — head_dim unnormalised outputs, then the split's
// max and sum — into bf16 out[token, head, :]. Slots are tokens when decode_query_start is null;
// otherwise they are sequences (decode_query_start = query_start), each mapped to its one token,
// and sequences with several new tokens are skipped.
void combine_attention_splits(const float* partial, int num_splits, int head_dim, int num_heads, int num_slots,
                              const int32_t* decode_query_start, __nv_bfloat16* out, cudaStream_t stream);

}  // namespace kiln::cuda
