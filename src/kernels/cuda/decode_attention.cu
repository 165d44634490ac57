// Decode attention, flash-decoding style. Grid (query token, KV head, split): a block of four
// warps takes one token, all query heads of one KV group (K and V are read once for the group)
// and one split of the key range. Each warp walks tiles of 32 keys: lane j loads key j's whole K
// row (16-byte loads, all in flight at once) and scores it against every head of the group, the
// warp updates its online softmax with shuffles, then P.V reads the tile's V rows, each lane
// owning head_dim / 32 dimensions. On the shared-memory V path (kVInShared, for small grids at
// short context) lane j first copies key j's V row to shared memory with cp.async, so the V
// bytes arrive while the scores are computed; otherwise each lane loads its V dimensions from
// global memory, which leaves shared memory, and so occupancy, to the bandwidth-bound grids.
// The four warps' states merge in shared memory; with one split the block writes bf16 output,
// with several it writes (unnormalised output, max, sum) records that a combine kernel merges.
//
// The first kernel (paged_attention.cu) read V one key at a time per thread: at batch 1 and
// 1k context it took 54 us per layer for 4 MB of cache.
#include "kernels/cuda/decode_attention.h"

#include <algorithm>
#include <cfloat>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/grid_dependency.cuh"

namespace kiln::cuda {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kKeysPerPass = kWarps * 32;
// Production tuning: see DecodeAttentionTuning in decode_attention.h and bench/cuda/NOTES.md
// ("Decode attention, afternoon"). A small grid (at most one block per SM before splitting:
// batch <= 16 on the 8B shape) is latency-bound: its keys split into more blocks (8 per SM), and
// at short context its V rows go through shared memory. Larger grids are bandwidth-bound, and
// occupancy wins there: registers, 2 blocks per SM (no split from 33 sequences on).
constexpr DecodeAttentionTuning kDefaultTuning{};
constexpr int kSmallGridBlocksPerSm = 8;
constexpr int kLargeGridBlocksPerSm = 2;
constexpr int kSharedVMaxContext = 2048;

bool small_decode_grid(const PagedAttentionMetadata& meta, const AttentionShape& shape, int num_sms) {
  return meta.num_tokens * shape.num_kv_heads <= num_sms;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <int kHeadDim, int kGroup, bool kVInShared>
__global__ void __launch_bounds__(kThreads)
    decode_attention_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                            const bf16* __restrict__ v_cache, const int32_t* __restrict__ query_start,
                            const int32_t* __restrict__ seq_lens, const int32_t* __restrict__ block_tables,
                            int num_seqs, int max_blocks_per_seq, int block_size, int num_kv_heads, float scale,
                            int keys_per_split, int q_stride, bool decode_only, bf16* __restrict__ out,
                            float* __restrict__ partial) {
  constexpr int kChunks = kHeadDim / 8;         // 16-byte pieces of a K row
  constexpr int kDimsPerLane = kHeadDim / 32;   // P.V: dimensions per lane
  __shared__ float q_shared[kGroup][kHeadDim];
  __shared__ float warp_max_shared[kWarps][kGroup];
  __shared__ float warp_sum_shared[kWarps][kGroup];
  // kVInShared: each warp's tile of 32 V rows, copied asynchronously while K is read and
  // scored. After the key loop the same bytes hold the warps' accumulators for the merge.
  constexpr int kMergeBytes = sizeof(float) * kWarps * kGroup * kHeadDim;
  constexpr int kVTileBytes = kVInShared ? 2 * kWarps * 32 * kHeadDim : 0;
  __shared__ __align__(16) char tile_bytes[kVTileBytes > kMergeBytes ? kVTileBytes : kMergeBytes];
  auto& v_tiles = *reinterpret_cast<bf16 (*)[kWarps][32][kHeadDim]>(tile_bytes);
  auto& warp_acc_shared = *reinterpret_cast<float (*)[kWarps][kGroup][kHeadDim]>(tile_bytes);

  grid_dependency_wait();
  grid_dependency_launch_dependents();
  const int token = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int split = blockIdx.z;
  const int num_heads = num_kv_heads * kGroup;
  const int head0 = kv_head * kGroup;
  const int seq = find_sequence(query_start, num_seqs, token);
  const int num_new = query_start[seq + 1] - query_start[seq];
  if (decode_only && num_new != 1) return;  // the prefill kernel's token
  const int position = seq_lens[seq] - num_new + (token - query_start[seq]);
  const int key_begin = split * keys_per_split;
  const int key_end = min(key_begin + keys_per_split, position + 1);
  const int32_t* block_table = block_tables + static_cast<size_t>(seq) * max_blocks_per_seq;
  const size_t kv_row_stride = static_cast<size_t>(num_kv_heads) * kHeadDim;
  const bf16* k_head = k_cache + kv_head * kHeadDim;
  const bf16* v_head = v_cache + kv_head * kHeadDim;

  for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) {
    const int h = i / kHeadDim, d = i % kHeadDim;
    q_shared[h][d] = __bfloat162float(q[static_cast<size_t>(token) * q_stride + (head0 + h) * kHeadDim + d]) * scale;
  }
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float running_max[kGroup], running_sum[kGroup], acc[kGroup][kDimsPerLane];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    running_max[h] = -INFINITY;
    running_sum[h] = 0.0f;
#pragma unroll
    for (int d = 0; d < kDimsPerLane; ++d) acc[h][d] = 0.0f;
  }

  for (int tile = key_begin + warp * 32; tile < key_end; tile += kKeysPerPass) {
    const int key = tile + lane;
    const bool valid = key < key_end;
    int row = 0;
    float score[kGroup];
    if (valid) {
      row = block_table[key / block_size] * block_size + key % block_size;
      if constexpr (kVInShared) {
        const char* v_row = reinterpret_cast<const char*>(v_head + static_cast<size_t>(row) * kv_row_stride);
        const uint32_t v_target = static_cast<uint32_t>(__cvta_generic_to_shared(&v_tiles[warp][lane][0]));
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          // Chunk c of row `lane` goes to chunk c ^ lane: eight lanes copying the same chunk
          // then hit different banks, and a row read stays conflict-free.
          const uint32_t target = v_target + 16 * (c ^ (lane & (kChunks - 1)));
          asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(target), "l"(v_row + 16 * c));
        }
      }
      const uint4* k_row = reinterpret_cast<const uint4*>(k_head + static_cast<size_t>(row) * kv_row_stride);
      uint4 k_chunks[kChunks];
#pragma unroll
      for (int c = 0; c < kChunks; ++c) k_chunks[c] = k_row[c];
#pragma unroll
      for (int h = 0; h < kGroup; ++h) score[h] = 0.0f;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&k_chunks[c]);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float2 k2 = __bfloat1622float2(pairs[i]);
#pragma unroll
          for (int h = 0; h < kGroup; ++h) {
            score[h] = fmaf(q_shared[h][c * 8 + 2 * i], k2.x, score[h]);
            score[h] = fmaf(q_shared[h][c * 8 + 2 * i + 1], k2.y, score[h]);
          }
        }
      }
    } else {
#pragma unroll
      for (int h = 0; h < kGroup; ++h) score[h] = -INFINITY;
    }
    if constexpr (kVInShared) asm volatile("cp.async.commit_group;");
    float p[kGroup];
#pragma unroll
    for (int h = 0; h < kGroup; ++h) {
      const float new_max = fmaxf(running_max[h], warp_max(score[h]));
      const float correction = __expf(running_max[h] - new_max);
      p[h] = valid ? __expf(score[h] - new_max) : 0.0f;
      running_sum[h] = running_sum[h] * correction + warp_sum(p[h]);
#pragma unroll
      for (int d = 0; d < kDimsPerLane; ++d) acc[h][d] *= correction;
      running_max[h] = new_max;
    }
    const int tile_keys = min(32, key_end - tile);
    if constexpr (kVInShared) {
      asm volatile("cp.async.wait_group 0;" ::: "memory");
      __syncwarp();
    }
#pragma unroll 8
    for (int j = 0; j < 32; ++j) {
      if (j >= tile_keys) break;
      const bf16* v_row;
      if constexpr (kVInShared) {
        constexpr int kLaneBytes = kDimsPerLane * 2;
        const int chunk = (lane * kLaneBytes / 16) ^ (j & (kChunks - 1));
        v_row = reinterpret_cast<const bf16*>(reinterpret_cast<const char*>(&v_tiles[warp][j][0]) + chunk * 16 +
                                              lane * kLaneBytes % 16);
      } else {
        const int row_j = __shfl_sync(0xffffffffu, row, j);
        v_row = v_head + static_cast<size_t>(row_j) * kv_row_stride + lane * kDimsPerLane;
      }
      float v[kDimsPerLane];
      if constexpr (kDimsPerLane == 4) {
        const uint2 packed = *reinterpret_cast<const uint2*>(v_row);
        const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&packed.x));
        const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&packed.y));
        v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
      } else {
        const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(v_row));
        v[0] = a.x, v[1] = a.y;
      }
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        const float weight = __shfl_sync(0xffffffffu, p[h], j);
#pragma unroll
        for (int d = 0; d < kDimsPerLane; ++d) acc[h][d] = fmaf(weight, v[d], acc[h][d]);
      }
    }
    if constexpr (kVInShared) __syncwarp();  // the next tile's copies overwrite these rows
  }

  // Merge the warps: each holds (max, sum, acc) over its own keys. Every warp must be done with
  // its V tile before the accumulators overwrite the space.
  __syncthreads();
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    if (lane == 0) {
      warp_max_shared[warp][h] = running_max[h];
      warp_sum_shared[warp][h] = running_sum[h];
    }
#pragma unroll
    for (int d = 0; d < kDimsPerLane; ++d) warp_acc_shared[warp][h][lane * kDimsPerLane + d] = acc[h][d];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) {
    const int h = i / kHeadDim, d = i % kHeadDim;
    float block_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) block_max = fmaxf(block_max, warp_max_shared[w][h]);
    float sum = 0.0f, value = 0.0f;
    if (block_max != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float weight = __expf(warp_max_shared[w][h] - block_max);
        sum += warp_sum_shared[w][h] * weight;
        value += warp_acc_shared[w][h][d] * weight;
      }
    }
    const size_t token_head = static_cast<size_t>(token) * num_heads + head0 + h;
    if (gridDim.z == 1) {
      out[token_head * kHeadDim + d] = __float2bfloat16(sum > 0 ? value / sum : 0.0f);
    } else {
      float* record = partial + (token_head * gridDim.z + split) * (kHeadDim + 2);
      record[d] = value;
      if (d == 0) {
        record[kHeadDim] = block_max == -INFINITY ? -FLT_MAX : block_max;
        record[kHeadDim + 1] = sum;
      }
    }
  }
}

// Blocks of the kernel one SM holds at once (its registers and shared memory bound it), asked
// once per kernel.
template <int kHeadDim, int kGroup, bool kVInShared>
int resident_blocks_per_sm() {
  static const int blocks = [] {
    int count = 0;
    KILN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &count, decode_attention_kernel<kHeadDim, kGroup, kVInShared>, kThreads, 0));
    return std::max(1, count);
  }();
  return blocks;
}

template <int kHeadDim, int kGroup, bool kVInShared>
void launch(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
            const AttentionShape& shape, float scale, int num_sms, int q_stride, bool decode_only,
            const DecodeAttentionTuning& tuning, bf16* out, float* partial, cudaStream_t stream) {
  // Split the key range until the grid has about target_waves waves of resident blocks (or
  // target_blocks_per_sm blocks per SM), each split at least min_keys_per_split keys, within the
  // records the workspace holds. Mixed steps (decode_only) do not split: their records would be
  // indexed by sequence.
  const int blocks_without_split = meta.num_tokens * shape.num_kv_heads;
  int splits = 1;
  if (!decode_only) {
    double per_sm = kLargeGridBlocksPerSm;
    if (tuning.target_waves > 0) {
      per_sm = tuning.target_waves * resident_blocks_per_sm<kHeadDim, kGroup, kVInShared>();
    } else if (tuning.target_blocks_per_sm > 0) {
      per_sm = tuning.target_blocks_per_sm;
    } else if (small_decode_grid(meta, shape, num_sms)) {
      per_sm = kSmallGridBlocksPerSm;
    }
    const int wanted = static_cast<int>(per_sm * num_sms / blocks_without_split + 0.5);
    const int useful = (meta.max_seq_len + tuning.min_keys_per_split - 1) / tuning.min_keys_per_split;
    const int records = static_cast<int>(attention_split_records(num_sms) /
                                         (static_cast<size_t>(meta.num_tokens) * shape.num_heads));
    splits = std::max(1, std::min({wanted, useful, tuning.max_splits, records}));
  }
  const int keys_per_split = (std::max(1, meta.max_seq_len) + splits - 1) / splits;
  const dim3 grid(meta.num_tokens, shape.num_kv_heads, splits);
  launch_with_grid_dependency(decode_attention_kernel<kHeadDim, kGroup, kVInShared>, grid, dim3(kThreads), 0, stream,
                              q, k_cache, v_cache, meta.query_start, meta.seq_lens, meta.block_tables, meta.num_seqs,
                              meta.max_blocks_per_seq, meta.block_size, shape.num_kv_heads, scale, keys_per_split,
                              q_stride, decode_only, out, partial);
  if (splits > 1) {
    combine_attention_splits(partial, splits, shape.head_dim, shape.num_heads, meta.num_tokens, nullptr, out, stream);
  }
}

template <int kHeadDim, int kGroup>
void dispatch_v(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
                const AttentionShape& shape, float scale, int num_sms, int q_stride, bool decode_only,
                const DecodeAttentionTuning& tuning, bf16* out, float* partial, cudaStream_t stream) {
  const bool v_in_shared = tuning.v_path == DecodeVPath::kShared ||
                           (tuning.v_path == DecodeVPath::kAuto && small_decode_grid(meta, shape, num_sms) &&
                            meta.max_seq_len <= kSharedVMaxContext);
  if (v_in_shared) {
    launch<kHeadDim, kGroup, true>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning,
                                   out, partial, stream);
  } else {
    launch<kHeadDim, kGroup, false>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning,
                                    out, partial, stream);
  }
}

template <int kHeadDim>
void dispatch_group(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
                    const AttentionShape& shape, float scale, int num_sms, int q_stride, bool decode_only,
                    const DecodeAttentionTuning& tuning, bf16* out, float* partial, cudaStream_t stream) {
  switch (shape.num_heads / shape.num_kv_heads) {
    case 1: return dispatch_v<kHeadDim, 1>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning, out, partial, stream);
    case 2: return dispatch_v<kHeadDim, 2>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning, out, partial, stream);
    case 4: return dispatch_v<kHeadDim, 4>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning, out, partial, stream);
    default: return dispatch_v<kHeadDim, 8>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning, out, partial, stream);
  }
}

}  // namespace

bool decode_attention_supports(const AttentionShape& shape) {
  if (shape.head_dim != 64 && shape.head_dim != 128) return false;
  if (shape.num_kv_heads <= 0 || shape.num_heads % shape.num_kv_heads != 0) return false;
  const int group = shape.num_heads / shape.num_kv_heads;
  return group == 1 || group == 2 || group == 4 || group == 8;
}

void decode_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
                      const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                      cudaStream_t stream, int q_token_stride, bool decode_only) {
  decode_attention_tuned(q, k_cache, v_cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride,
                         decode_only, kDefaultTuning);
}

void decode_attention_tuned(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
                            const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                            cudaStream_t stream, int q_token_stride, bool decode_only,
                            const DecodeAttentionTuning& tuning) {
  if (meta.num_tokens == 0) return;
  const int q_stride = q_token_stride ? q_token_stride : shape.num_heads * shape.head_dim;
  float* partial = static_cast<float*>(workspace);
  if (shape.head_dim == 64) {
    dispatch_group<64>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning, out, partial, stream);
  } else {
    dispatch_group<128>(q, k_cache, v_cache, meta, shape, scale, num_sms, q_stride, decode_only, tuning, out, partial, stream);
  }
}

}  // namespace kiln::cuda
