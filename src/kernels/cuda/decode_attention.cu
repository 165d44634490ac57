// Decode attention, flash-decoding style. Grid (query token, KV head, split): a block of four
// warps takes one token, all query heads of one KV group (K and V are read once for the group)
// and one split of the key range, and streams through it in tiles of 32 keys. Its 128 threads
// copy each tile's K and V rows to shared memory with cp.async kStages - 1 (2) tiles ahead of the
// one being computed, so the copies never wait on the arithmetic. Within a tile warp w takes keys
// 8w..8w+7: kLanesPerKey lanes share a key, each holding its slice of the group's query rows in
// registers, and sum their partial dot products with shuffles; for P.V each lane owns
// head_dim / 32 dimensions of every key and takes the probabilities from shared memory. A warp
// reads 128 contiguous bytes of one row per quarter, so the tiles need no swizzle. The block
// table entry of the tile after the one being issued is loaded a tile early. The four warps'
// states merge in shared memory; with one split the block writes bf16 output, with several it
// writes (unnormalised output, max, sum) records that a combine kernel merges.
//
// The cache is bf16 or FP8 (E4M3 codes, one byte each, with a scale per tensor): the tiles are
// copied as they are stored, so an FP8 cache moves half the bytes; codes become floats where a
// lane reads them, the K scale is folded into the queries' scale and the V scale into the output.
//
// History (bench/cuda/NOTES.md): the first kernel read V one key at a time per thread (54 us per
// layer at batch 1, 1k context); the second gave each lane a whole key, loading K rows into
// registers and waiting for each tile's K and then its V (61% of copy bandwidth at 256 sequences,
// 37% at batch 1 and 32k). Streaming the tiles took those to 86% and 63%.
#include "kernels/cuda/decode_attention.h"

#include <cuda_fp8.h>

#include <algorithm>
#include <cfloat>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/decode_attention_mma.h"
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace kiln::cuda {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr DecodeAttentionTuning kDefaultTuning{};

// What one block works on: its query token's sequence, position and key range.
struct DecodeBlockKeys {
  bool skip;  // decode_only and the token belongs to a sequence with several new tokens
  int key_begin, key_end;
  const int32_t* block_table;
};

__device__ __forceinline__ DecodeBlockKeys decode_block_keys(const int32_t* query_start, const int32_t* seq_lens,
                                                             const int32_t* block_tables, int num_seqs,
                                                             int max_blocks_per_seq, int keys_per_split,
                                                             bool decode_only) {
  const int token = blockIdx.x;
  const int seq = find_sequence(query_start, num_seqs, token);
  const int num_new = query_start[seq + 1] - query_start[seq];
  const int position = seq_lens[seq] - num_new + (token - query_start[seq]);
  const int key_begin = blockIdx.z * keys_per_split;
  return {decode_only && num_new != 1, key_begin, min(key_begin + keys_per_split, position + 1),
          block_tables + static_cast<size_t>(seq) * max_blocks_per_seq};
}

// Eight consecutive elements of a cached row as floats: bf16 values, or FP8 codes (exact in f32).
__device__ __forceinline__ void load8(const bf16* p, float (&out)[8]) {
  const uint4 packed = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 f = __bfloat1622float2(pairs[e]);
    out[2 * e] = f.x, out[2 * e + 1] = f.y;
  }
}

__device__ __forceinline__ float2 fp8x2_to_float2(uint16_t pair) {
  const __half2_raw raw = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pair), __NV_E4M3);
  return __half22float2(__half2(raw));
}

__device__ __forceinline__ void load8(const uint8_t* p, float (&out)[8]) {
  const uint2 packed = *reinterpret_cast<const uint2*>(p);
  const uint16_t* pairs = reinterpret_cast<const uint16_t*>(&packed);
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 f = fp8x2_to_float2(pairs[e]);
    out[2 * e] = f.x, out[2 * e + 1] = f.y;
  }
}

// kN (2 or 4) consecutive elements of a cached row as floats.
template <int kN>
__device__ __forceinline__ void load_n(const bf16* p, float (&out)[kN]) {
  if constexpr (kN == 4) {
    const uint2 packed = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&packed.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&packed.y));
    out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y;
  } else {
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
    out[0] = a.x, out[1] = a.y;
  }
}

template <int kN>
__device__ __forceinline__ void load_n(const uint8_t* p, float (&out)[kN]) {
  if constexpr (kN == 4) {
    const uint32_t packed = *reinterpret_cast<const uint32_t*>(p);
    const float2 a = fp8x2_to_float2(static_cast<uint16_t>(packed & 0xffffu));
    const float2 b = fp8x2_to_float2(static_cast<uint16_t>(packed >> 16));
    out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y;
  } else {
    const float2 a = fp8x2_to_float2(*reinterpret_cast<const uint16_t*>(p));
    out[0] = a.x, out[1] = a.y;
  }
}

// The group's query rows, pre-scaled, as floats in shared memory.
template <int kHeadDim, int kGroup>
__device__ __forceinline__ void load_scaled_queries(const bf16* q, int q_stride, int head0, float scale,
                                                    float (&q_shared)[kGroup][kHeadDim]) {
  for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) {
    const int h = i / kHeadDim, d = i % kHeadDim;
    q_shared[h][d] =
        __bfloat162float(q[static_cast<size_t>(blockIdx.x) * q_stride + (head0 + h) * kHeadDim + d]) * scale;
  }
  __syncthreads();
}

// Merges the four warps' (max, sum, accumulator) states in shared memory (`merge_bytes`, free
// for reuse: the caller has synchronised the block) and writes the block's result: bf16 output
// with one split, else the split's record for combine_attention_splits.
template <int kHeadDim, int kGroup>
__device__ __forceinline__ void merge_warps_and_write(const float (&running_max)[kGroup],
                                                      const float (&running_sum)[kGroup],
                                                      const float (&acc)[kGroup][kHeadDim / 32], char* merge_bytes,
                                                      int num_kv_heads, float v_scale, bf16* out, float* partial) {
  constexpr int kDimsPerLane = kHeadDim / 32;
  __shared__ float warp_max_shared[kWarps][kGroup];
  __shared__ float warp_sum_shared[kWarps][kGroup];
  auto& warp_acc_shared = *reinterpret_cast<float (*)[kWarps][kGroup][kHeadDim]>(merge_bytes);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
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
  const int token = blockIdx.x, head0 = blockIdx.y * kGroup, num_heads = num_kv_heads * kGroup;
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
    value *= v_scale;
    const size_t token_head = static_cast<size_t>(token) * num_heads + head0 + h;
    if (gridDim.z == 1) {
      out[token_head * kHeadDim + d] = __float2bfloat16(sum > 0 ? value / sum : 0.0f);
    } else {
      float* record = partial + (token_head * gridDim.z + blockIdx.z) * (kHeadDim + 2);
      record[d] = value;
      if (d == 0) {
        record[kHeadDim] = block_max == -INFINITY ? -FLT_MAX : block_max;
        record[kHeadDim + 1] = sum;
      }
    }
  }
}

// The shared-memory layout of one block: kStages tiles of K and V rows, then the warps'
// probabilities for P.V.
template <typename Cache, int kHeadDim, int kGroup>
struct DecodeTileLayout {
  static constexpr int kTileKeys = 32;
  static constexpr int kWarpKeys = kTileKeys / kWarps;
  static constexpr int kChunks = kHeadDim / 8;  // pieces of 8 elements a lane reads at once
  static constexpr int kCopyElements = 16 / static_cast<int>(sizeof(Cache));  // per 16-byte copy
  static constexpr int kCopyChunks = kHeadDim / kCopyElements;
  // At most 64 query floats per lane: 8 lanes per key, 16 for a group of 8 at head_dim 128.
  static constexpr int kLanesPerKey = kHeadDim * kGroup / 64 > 8 ? kHeadDim * kGroup / 64 : 8;
  static constexpr int kChunksPerLane = kChunks / kLanesPerKey;
  static constexpr int kKeysPerStep = 32 / kLanesPerKey;
  static constexpr int kSteps = kWarpKeys / kKeysPerStep;
  static constexpr int kCopiesPerThread = kTileKeys * kCopyChunks / kThreads;  // per tile, K and V each
  static constexpr size_t kStageBytes = 2 * kTileKeys * kHeadDim * sizeof(Cache);
  static constexpr size_t kProbabilityBytes = sizeof(float) * kWarps * kWarpKeys * kGroup;
  static constexpr size_t shared_bytes(int stages) { return stages * kStageBytes + kProbabilityBytes; }
  static_assert(kChunksPerLane >= 1 && kSteps >= 1 && kTileKeys * kCopyChunks % kThreads == 0);
  static_assert(sizeof(float) * kWarps * kGroup * kHeadDim <= 2 * kStageBytes, "merge space");
};

template <typename Cache, int kHeadDim, int kGroup, int kStages>
__global__ void __launch_bounds__(kThreads)
    decode_attention_kernel(const bf16* __restrict__ q, const Cache* __restrict__ k_cache,
                            const Cache* __restrict__ v_cache, const float* __restrict__ k_scale,
                            const float* __restrict__ v_scale, const int32_t* __restrict__ query_start,
                            const int32_t* __restrict__ seq_lens, const int32_t* __restrict__ block_tables,
                            int num_seqs, int max_blocks_per_seq, int block_size, int num_kv_heads, float scale,
                            int keys_per_split, int q_stride, bool decode_only, bf16* __restrict__ out,
                            float* __restrict__ partial) {
  using L = DecodeTileLayout<Cache, kHeadDim, kGroup>;
  static_assert(kStages >= 2, "the merge reuses two stages");
  constexpr int kDimsPerLane = kHeadDim / 32;
  extern __shared__ __align__(16) char tile_shared[];
  auto& tiles = *reinterpret_cast<Cache (*)[kStages][2][L::kTileKeys][kHeadDim]>(tile_shared);
  auto& probabilities =
      *reinterpret_cast<float (*)[kWarps][L::kWarpKeys][kGroup]>(tile_shared + kStages * L::kStageBytes);
  __shared__ float q_shared[kGroup][kHeadDim];

  // The step's metadata and block tables are step inputs (grid_dependency.cuh): the key range and
  // the first tiles' rows are found while the kernel before this one finishes.
  const DecodeBlockKeys keys = decode_block_keys(query_start, seq_lens, block_tables, num_seqs, max_blocks_per_seq,
                                                 keys_per_split, decode_only);
  if (keys.skip) return;  // the prefill kernel's token
  const int kv_head = blockIdx.y;
  const size_t kv_row_stride = static_cast<size_t>(num_kv_heads) * kHeadDim;
  const Cache* k_head = k_cache + kv_head * kHeadDim;
  const Cache* v_head = v_cache + kv_head * kHeadDim;
  const int num_tiles = max(0, keys.key_end - keys.key_begin + L::kTileKeys - 1) / L::kTileKeys;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // Lane j's cache row for key j of `tile`, -1 past the split's end.
  auto row_of_lane = [&](int tile) {
    const int key = keys.key_begin + tile * L::kTileKeys + lane;
    return key < keys.key_end ? keys.block_table[key / block_size] * block_size + key % block_size : -1;
  };
  // Copies `tile`'s K and V rows into its stage; rows past the end are zero-filled, so masked
  // keys multiply finite values.
  auto issue = [&](int tile, int lane_row) {
#pragma unroll
    for (int c = 0; c < L::kCopiesPerThread; ++c) {
      const int piece = threadIdx.x + c * kThreads;
      const int key = piece / L::kCopyChunks, chunk = piece % L::kCopyChunks;
      const int row = __shfl_sync(0xffffffffu, lane_row, key);
      const size_t offset = static_cast<size_t>(row < 0 ? 0 : row) * kv_row_stride + chunk * L::kCopyElements;
      const int bytes = row < 0 ? 0 : 16;
      Cache (&stage)[2][L::kTileKeys][kHeadDim] = tiles[tile % kStages];
      const uint32_t k_target =
          static_cast<uint32_t>(__cvta_generic_to_shared(&stage[0][key][chunk * L::kCopyElements]));
      const uint32_t v_target =
          static_cast<uint32_t>(__cvta_generic_to_shared(&stage[1][key][chunk * L::kCopyElements]));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(k_target), "l"(k_head + offset), "r"(bytes));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(v_target), "l"(v_head + offset), "r"(bytes));
    }
  };

  // The first kStages - 1 tiles are requested as soon as the cache is written, before the queries
  // are read.
  int lane_rows[kStages];
#pragma unroll
  for (int s = 0; s < kStages; ++s) lane_rows[s] = row_of_lane(s);
  grid_dependency_wait();
  grid_dependency_launch_dependents();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < num_tiles) issue(s, lane_rows[s]);
    asm volatile("cp.async.commit_group;");
  }
  int pending_row = lane_rows[kStages - 1];  // tile kStages - 1's, issued in the first iteration

  // An FP8 cache's scales (written by an earlier kernel when calculated): K's multiplies every
  // score, so it joins the queries' scale; V's multiplies the output.
  const float key_scale = k_scale != nullptr ? *k_scale : 1.0f;
  const float value_scale = v_scale != nullptr ? *v_scale : 1.0f;
  load_scaled_queries<kHeadDim, kGroup>(q, q_stride, kv_head * kGroup, scale * key_scale, q_shared);
  // Lane (key slot, part) holds chunks part + kLanesPerKey * i of each query row.
  const int part = lane % L::kLanesPerKey, key_slot = lane / L::kLanesPerKey;
  float q_reg[kGroup][L::kChunksPerLane * 8];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
#pragma unroll
    for (int i = 0; i < L::kChunksPerLane; ++i) {
#pragma unroll
      for (int e = 0; e < 8; ++e) q_reg[h][i * 8 + e] = q_shared[h][(part + L::kLanesPerKey * i) * 8 + e];
    }
  }
  // running_sum is per lane (each key counted by its part-0 lane) until the merge.
  float running_max[kGroup], running_sum[kGroup], acc[kGroup][kDimsPerLane];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    running_max[h] = -INFINITY;
    running_sum[h] = 0.0f;
#pragma unroll
    for (int d = 0; d < kDimsPerLane; ++d) acc[h][d] = 0.0f;
  }

  for (int tile = 0; tile < num_tiles; ++tile) {
    asm volatile("cp.async.wait_group %0;" ::"n"(kStages - 2) : "memory");
    // Everyone's copies of this tile have landed, and everyone is done with the stage the next
    // issue overwrites (the tile before this one).
    __syncthreads();
    const int ahead = tile + kStages - 1;
    if (ahead < num_tiles) issue(ahead, pending_row);
    asm volatile("cp.async.commit_group;");
    pending_row = row_of_lane(ahead + 1);

    const auto& stage = tiles[tile % kStages];
    const int warp_first_key = keys.key_begin + tile * L::kTileKeys + warp * L::kWarpKeys;
    float score[L::kSteps][kGroup];
#pragma unroll
    for (int step = 0; step < L::kSteps; ++step) {
      const int key = warp * L::kWarpKeys + step * L::kKeysPerStep + key_slot;
      float dot[kGroup];
#pragma unroll
      for (int h = 0; h < kGroup; ++h) dot[h] = 0.0f;
#pragma unroll
      for (int i = 0; i < L::kChunksPerLane; ++i) {
        float k8[8];
        load8(&stage[0][key][(part + L::kLanesPerKey * i) * 8], k8);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
#pragma unroll
          for (int h = 0; h < kGroup; ++h) {
            dot[h] = fmaf(q_reg[h][i * 8 + 2 * e], k8[2 * e], dot[h]);
            dot[h] = fmaf(q_reg[h][i * 8 + 2 * e + 1], k8[2 * e + 1], dot[h]);
          }
        }
      }
      const bool valid = warp_first_key + step * L::kKeysPerStep + key_slot < keys.key_end;
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
#pragma unroll
        for (int offset = L::kLanesPerKey / 2; offset > 0; offset /= 2) {
          dot[h] += __shfl_xor_sync(0xffffffffu, dot[h], offset);
        }
        score[step][h] = valid ? dot[h] : -INFINITY;
      }
    }
#pragma unroll
    for (int h = 0; h < kGroup; ++h) {
      float tile_max = score[0][h];
#pragma unroll
      for (int step = 1; step < L::kSteps; ++step) tile_max = fmaxf(tile_max, score[step][h]);
#pragma unroll
      for (int offset = L::kLanesPerKey; offset < 32; offset *= 2) {
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
      }
      const float new_max = fmaxf(running_max[h], tile_max);
      // A warp whose keys are all masked so far keeps max -inf; exponents are taken against 0
      // then, which leaves its (zero) state zero instead of NaN.
      const float base = new_max == -INFINITY ? 0.0f : new_max;
      const float correction = __expf(running_max[h] - base);
      float tile_sum = 0.0f;
#pragma unroll
      for (int step = 0; step < L::kSteps; ++step) {
        const float p = __expf(score[step][h] - base);
        tile_sum += p;
        if (part == 0) probabilities[warp][step * L::kKeysPerStep + key_slot][h] = p;
      }
      running_sum[h] = running_sum[h] * correction + (part == 0 ? tile_sum : 0.0f);
#pragma unroll
      for (int d = 0; d < kDimsPerLane; ++d) acc[h][d] *= correction;
      running_max[h] = new_max;
    }
    __syncwarp();
    const int warp_keys = min(L::kWarpKeys, keys.key_end - warp_first_key);
#pragma unroll
    for (int j = 0; j < L::kWarpKeys; ++j) {
      if (j >= warp_keys) break;
      float v[kDimsPerLane];
      load_n<kDimsPerLane>(&stage[1][warp * L::kWarpKeys + j][lane * kDimsPerLane], v);
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        const float weight = probabilities[warp][j][h];
#pragma unroll
        for (int d = 0; d < kDimsPerLane; ++d) acc[h][d] = fmaf(weight, v[d], acc[h][d]);
      }
    }
    __syncwarp();  // the next tile rewrites this warp's probabilities
  }

#pragma unroll
  for (int h = 0; h < kGroup; ++h) running_sum[h] = warp_sum(running_sum[h]);
  asm volatile("cp.async.wait_group 0;" ::: "memory");
  __syncthreads();  // every warp is done with the tiles: the merge reuses their space
  merge_warps_and_write<kHeadDim, kGroup>(running_max, running_sum, acc, tile_shared, num_kv_heads, value_scale, out,
                                          partial);
}

// One instantiation of the kernel with the shared memory it asks for and the blocks of it one SM
// holds at once (its registers and shared memory bound that), found once per instantiation:
// kiln drives one device.
template <typename Cache>
using DecodeKernelFunction = void (*)(const bf16*, const Cache*, const Cache*, const float*, const float*,
                                      const int32_t*, const int32_t*, const int32_t*, int, int, int, int, float, int,
                                      int, bool, bf16*, float*);
template <typename Cache>
struct DecodeKernel {
  DecodeKernelFunction<Cache> function;
  size_t shared_bytes;
  int resident_blocks_per_sm;
};

template <typename Cache, int kHeadDim, int kGroup, int kStages>
const DecodeKernel<Cache>& decode_kernel() {
  static const DecodeKernel<Cache> kernel = [] {
    const DecodeKernelFunction<Cache> function = decode_attention_kernel<Cache, kHeadDim, kGroup, kStages>;
    const size_t shared_bytes = DecodeTileLayout<Cache, kHeadDim, kGroup>::shared_bytes(kStages);
    if (shared_bytes > 48 * 1024) {
      KILN_CUDA_CHECK(cudaFuncSetAttribute(function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(shared_bytes)));
    }
    int count = 0;
    KILN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&count, function, kThreads, shared_bytes));
    return DecodeKernel<Cache>{function, shared_bytes, std::max(1, count)};
  }();
  return kernel;
}

template <typename Cache, int kHeadDim>
const DecodeKernel<Cache>& choose_kernel(const AttentionShape& shape, int stages) {
#define KILN_DECODE_KERNEL(group)                                               \
  return stages >= 4 ? decode_kernel<Cache, kHeadDim, group, 4>() \
                     : decode_kernel<Cache, kHeadDim, group, 3>()
  switch (shape.num_heads / shape.num_kv_heads) {
    case 1: KILN_DECODE_KERNEL(1);
    case 2: KILN_DECODE_KERNEL(2);
    case 4: KILN_DECODE_KERNEL(4);
    default: KILN_DECODE_KERNEL(8);
  }
#undef KILN_DECODE_KERNEL
}

}  // namespace

// How many splits the key range gets (lab measurements in bench/cuda/NOTES.md): as many as fit
// target_waves waves of resident blocks, so no block waits for a second wave, but no shorter than
// min_keys_per_split, since each block pays a fixed start (the queries, the first tiles' round
// trip, the merge, a record). Mixed steps (decode_only) do not split: their records would be
// indexed by sequence.
int decode_attention_splits(int resident_blocks_per_sm, const PagedAttentionMetadata& meta, const AttentionShape& shape,
                            int num_sms, bool decode_only, const DecodeAttentionTuning& tuning) {
  if (decode_only) return 1;
  const int blocks_without_split = meta.num_tokens * shape.num_kv_heads;
  const double per_sm = tuning.target_blocks_per_sm > 0 ? tuning.target_blocks_per_sm
                                                        : tuning.target_waves * resident_blocks_per_sm;
  const int fitting = static_cast<int>(per_sm * num_sms / blocks_without_split);
  const auto useful = [&](int min_keys) { return (meta.max_seq_len + min_keys - 1) / min_keys; };
  int useful_splits = useful(tuning.min_keys_per_split);
  if (static_cast<long>(blocks_without_split) * useful_splits < num_sms / 2) {
    useful_splits = useful(tuning.short_context_min_keys_per_split);
  }
  const int records = static_cast<int>(attention_split_records(num_sms) /
                                       (static_cast<size_t>(meta.num_tokens) * shape.num_heads));
  return std::max(1, std::min({fitting, useful_splits, tuning.max_splits, records}));
}

bool decode_attention_supports(const AttentionShape& shape) {
  if (shape.head_dim != 64 && shape.head_dim != 128) return false;
  if (shape.num_kv_heads <= 0 || shape.num_heads % shape.num_kv_heads != 0) return false;
  const int group = shape.num_heads / shape.num_kv_heads;
  return group == 1 || group == 2 || group == 4 || group == 8;
}

namespace {

template <typename Cache>
void launch_decode_attention(const bf16* q, const Cache* k_cache, const Cache* v_cache, const float* k_scale,
                             const float* v_scale, const PagedAttentionMetadata& meta, const AttentionShape& shape,
                             float scale, bf16* out, void* workspace, int num_sms, cudaStream_t stream,
                             int q_token_stride, bool decode_only, const DecodeAttentionTuning& tuning) {
  if (meta.num_tokens == 0) return;
  const int q_stride = q_token_stride ? q_token_stride : shape.num_heads * shape.head_dim;
  const DecodeKernel<Cache>& kernel = shape.head_dim == 64 ? choose_kernel<Cache, 64>(shape, tuning.stages)
                                                           : choose_kernel<Cache, 128>(shape, tuning.stages);
  // Whole tiles per split: the split count is then what covers the longest sequence.
  const int max_seq_len = std::max(1, meta.max_seq_len);
  const int wanted = decode_attention_splits(kernel.resident_blocks_per_sm, meta, shape, num_sms, decode_only, tuning);
  constexpr int kTileKeys = DecodeTileLayout<bf16, 128, 1>::kTileKeys;
  const int keys_per_split = ((max_seq_len + wanted - 1) / wanted + kTileKeys - 1) / kTileKeys * kTileKeys;
  const int splits = (max_seq_len + keys_per_split - 1) / keys_per_split;
  float* partial = static_cast<float*>(workspace);
  const dim3 grid(meta.num_tokens, shape.num_kv_heads, splits);
  launch_with_grid_dependency(kernel.function, grid, dim3(kThreads), kernel.shared_bytes, stream, q, k_cache, v_cache,
                              k_scale, v_scale, meta.query_start, meta.seq_lens, meta.block_tables, meta.num_seqs,
                              meta.max_blocks_per_seq, meta.block_size, shape.num_kv_heads, scale, keys_per_split,
                              q_stride, decode_only, out, partial);
  if (splits > 1) {
    combine_attention_splits(partial, splits, shape.head_dim, shape.num_heads, meta.num_tokens, nullptr, out, stream);
  }
}

}  // namespace

void decode_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
                      const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                      cudaStream_t stream, int q_token_stride, bool decode_only) {
  if (decode_attention_mma_enabled() && decode_attention_mma_supports(shape)) {
    decode_attention_mma(q, k_cache, v_cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride,
                         decode_only);
    return;
  }
  launch_decode_attention<bf16>(q, k_cache, v_cache, nullptr, nullptr, meta, shape, scale, out, workspace, num_sms,
                                stream, q_token_stride, decode_only, kDefaultTuning);
}

void decode_attention_tuned(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
                            const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                            cudaStream_t stream, int q_token_stride, bool decode_only,
                            const DecodeAttentionTuning& tuning) {
  launch_decode_attention<bf16>(q, k_cache, v_cache, nullptr, nullptr, meta, shape, scale, out, workspace, num_sms,
                                stream, q_token_stride, decode_only, tuning);
}

void decode_attention(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                      const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                      cudaStream_t stream, int q_token_stride, bool decode_only, const DecodeAttentionTuning& tuning) {
  if (decode_attention_mma_enabled() && decode_attention_mma_supports(shape)) {
    decode_attention_mma(q, cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride, decode_only,
                         tuning);
    return;
  }
  launch_decode_attention<uint8_t>(q, cache.k, cache.v, cache.k_scale, cache.v_scale, meta, shape, scale, out,
                                   workspace, num_sms, stream, q_token_stride, decode_only, tuning);
}

}  // namespace kiln::cuda
