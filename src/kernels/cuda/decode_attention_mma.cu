// Decode attention on the tensor cores. decode_attention.cu's CUDA-core kernel does about eight
// f32 FMAs per cached element (Q K^T and P.V for a group of 4 query heads) plus the code's
// conversion; over an FP8 cache at copy bandwidth that is the H100's f32 ceiling, so the FP8 cache
// saved half the time it should have at 256 sequences (bench/RESULTS.md, issue 14). Here both
// products are mma.m16n8k16 with f32 accumulation, the way FlashInfer runs GQA decode.
//
// The block structure is decode_attention's: grid (query token, KV head, split), four warps, the
// split's keys streamed in tiles copied to shared memory with cp.async kStages - 1 tiles ahead,
// block table entries a tile early, the warps' states merged at the end into bf16 output or a
// split record for combine_attention_splits. A tile holds 64 keys, 16 per warp (the mma's rows).
// Per tile a warp computes S^T = K Q^T (keys as A's 16 rows, the group's query heads as B's 8
// columns, padded with zero queries), the online softmax per query column (f32, on the
// accumulator's registers), and O^T += V^T P^T (head dimensions as A's rows, keys as k, queries
// as columns). P comes out of the first product in the accumulator's layout and enters the second
// as B, a transpose that goes through 256 bytes of shared memory per warp. Which head dimension
// and key each lane feeds into each fragment position is in decode_attention_mma_layout.h, whose
// CPU test emulates the mma; the tiles are swizzled there too.
//
// Numerics. bf16 cache: K, V and the queries are bf16 already, the products exact, accumulated in
// f32. FP8 cache: E4M3 codes are exact in f16 (cvt.rn.f16x2.e4m3x2), the bf16 queries become f16
// (exact for |q| in [2^-14, 65504) — bf16 has fewer significand bits — only tinier values lose bits, and
// beyond 65504 they overflow, far above what RoPE'd queries reach). Unlike decode_attention, the
// softmax scale and the K scale multiply the f32 scores instead of the queries: folded into f16
// queries, scale * k_scale (~0.09 * 0.03) would push them into f16's subnormals. The
// probabilities enter P.V rounded to f16 (FP8 cache) or bf16 (bf16 cache), as FlashAttention
// does, and the row sums add the rounded values, so the output is exactly a weighted mean of V
// rows whose weights each moved by at most one rounding, u = 2^-11 (f16) or 2^-8 (bf16), relative:
// |out - exact| <= 2u / (1 - u) * sum_i w_i |v_i| before the bf16 output rounding.
#include "kernels/cuda/decode_attention_mma.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <type_traits>

#include "base/check.h"
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/decode_attention_mma_layout.h"
#include "kernels/cuda/grid_dependency.cuh"

namespace kiln::cuda {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kWarps = kMmaWarps;
constexpr int kTileKeys = kMmaTileKeys;
constexpr int kWarpKeys = kMmaWarpKeys;
constexpr int kColumns = kMmaColumns;

constexpr int kThreads = kWarps * 32;
constexpr int kStages = 3;

std::atomic<bool> mma_enabled{false};

// What one block works on, as decode_attention.cu's kernel finds it.
struct BlockKeys {
  bool skip;  // decode_only and the token belongs to a sequence with several new tokens
  int key_begin, key_end;
  const int32_t* block_table;
};

__device__ __forceinline__ BlockKeys block_keys(const int32_t* query_start, const int32_t* seq_lens,
                                                const int32_t* block_tables, int num_seqs, int max_blocks_per_seq,
                                                int keys_per_split, bool decode_only) {
  const int token = blockIdx.x;
  const int seq = find_sequence(query_start, num_seqs, token);
  const int num_new = query_start[seq + 1] - query_start[seq];
  const int position = seq_lens[seq] - num_new + (token - query_start[seq]);
  const int key_begin = blockIdx.z * keys_per_split;
  return {decode_only && num_new != 1, key_begin, min(key_begin + keys_per_split, position + 1),
          block_tables + static_cast<size_t>(seq) * max_blocks_per_seq};
}

template <typename Cache>
constexpr bool kFp8 = std::is_same_v<Cache, uint8_t>;

// D += A B: f16 operands for an FP8 cache, bf16 for a bf16 cache; f32 accumulators.
template <typename Cache>
__device__ __forceinline__ void mma_16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
  if constexpr (kFp8<Cache>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

// The two E4M3 codes in the low 16 bits as f16x2 (the lower byte in the lower half); exact.
__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint32_t codes) {
  const __half2_raw raw =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(codes & 0xffffu), __NV_E4M3);
  return static_cast<uint32_t>(raw.x) | (static_cast<uint32_t>(raw.y) << 16);
}

// Two floats as the operand type's pair (a in the lower half).
template <typename Cache>
__device__ __forceinline__ uint32_t pack_pair(float a, float b) {
  if constexpr (kFp8<Cache>) {
    const __half2 pair = __floats2half2_rn(a, b);
    return *reinterpret_cast<const uint32_t*>(&pair);
  } else {
    const __nv_bfloat162 pair = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<const uint32_t*>(&pair);
  }
}

// A probability rounded to the operand type: its bits, and the rounded value for the row sum.
template <typename Cache>
__device__ __forceinline__ uint16_t round_probability(float p, float* rounded) {
  if constexpr (kFp8<Cache>) {
    const __half h = __float2half_rn(p);
    *rounded = __half2float(h);
    return __half_as_ushort(h);
  } else {
    const bf16 b = __float2bfloat16_rn(p);
    *rounded = __bfloat162float(b);
    return __bfloat16_as_ushort(b);
  }
}

// The shapes of one instantiation's tiles and fragments.
template <typename Cache, int kHeadDim>
struct MmaTileLayout {
  static constexpr int kElementBytes = static_cast<int>(sizeof(Cache));
  static constexpr int kRowBytes = kHeadDim * kElementBytes;
  static constexpr int kChunksPerRow = kRowBytes / 16;
  static constexpr int kElementsPerChunk = 16 / kElementBytes;
  static constexpr int kSteps = kHeadDim / 16;                // Q K^T k-steps, and P.V m-tiles
  static constexpr int kChunksPerLane = kChunksPerRow / 4;    // K chunks a lane reads per key row
  static constexpr int kRun = std::min(kElementsPerChunk, kHeadDim / 8);  // V elements read at once
  static constexpr int kRunBytes = kRun * kElementBytes;      // 8 or 16
  static constexpr int kRuns = kHeadDim / 8 / kRun;
  static constexpr int kValueWords = kHeadDim / 8 * kElementBytes / 4;  // per key row and lane
  static constexpr int kCopiesPerThread = kTileKeys * kChunksPerRow / kThreads;  // K and V each
  static constexpr size_t kStageBytes = 2 * static_cast<size_t>(kTileKeys) * kRowBytes;
  static constexpr size_t kSharedBytes = kStages * kStageBytes;
  static_assert(kChunksPerLane >= 1 && kCopiesPerThread >= 1 && kTileKeys * kChunksPerRow % kThreads == 0);
  static_assert(kThreads / kChunksPerRow <= 32, "a copy round's keys stay within one half of the tile");
  static_assert(sizeof(float) * kWarps * kColumns * kHeadDim <= kSharedBytes, "merge space");
};

template <typename Cache, int kHeadDim, int kGroup>
__global__ void __launch_bounds__(kThreads)
    decode_attention_mma_kernel(const bf16* __restrict__ q, const Cache* __restrict__ k_cache,
                                const Cache* __restrict__ v_cache, const float* __restrict__ k_scale,
                                const float* __restrict__ v_scale, const int32_t* __restrict__ query_start,
                                const int32_t* __restrict__ seq_lens, const int32_t* __restrict__ block_tables,
                                int num_seqs, int max_blocks_per_seq, int block_size, int num_kv_heads, float scale,
                                int keys_per_split, int q_stride, bool decode_only, bf16* __restrict__ out,
                                float* __restrict__ partial) {
  using L = MmaTileLayout<Cache, kHeadDim>;
  static_assert(kGroup <= kColumns);
  extern __shared__ __align__(16) char tile_shared[];
  __shared__ __align__(16) uint16_t probabilities[kWarps][kColumns][kWarpKeys];
  __shared__ float warp_max_shared[kWarps][kColumns];
  __shared__ float warp_sum_shared[kWarps][kColumns];

  const BlockKeys keys = block_keys(query_start, seq_lens, block_tables, num_seqs, max_blocks_per_seq,
                                    keys_per_split, decode_only);
  if (keys.skip) return;  // the prefill kernel's token
  const int kv_head = blockIdx.y;
  const size_t kv_row_stride = static_cast<size_t>(num_kv_heads) * kHeadDim;
  const Cache* k_head = k_cache + kv_head * kHeadDim;
  const Cache* v_head = v_cache + kv_head * kHeadDim;
  const int num_tiles = max(0, keys.key_end - keys.key_begin + kTileKeys - 1) / kTileKeys;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad = lane % 4;  // the PTX ISA's groupID and threadID_in_group

  // Tile row `row` (key row of the tile, K when which is 0, V when 1), 16-byte chunk `chunk`.
  auto chunk_address = [&](int stage, int which, int row, int chunk) {
    return tile_shared + stage * L::kStageBytes + (which * kTileKeys + row) * L::kRowBytes +
           mma_swizzled_chunk(row, chunk, L::kChunksPerRow) * 16;
  };
  // Lane j's cache rows for keys j and j + 32 of `tile`, -1 past the split's end.
  auto rows_of_lane = [&](int tile) {
    const int key = keys.key_begin + tile * kTileKeys + lane;
    const auto row = [&](int k) {
      return k < keys.key_end ? keys.block_table[k / block_size] * block_size + k % block_size : -1;
    };
    return make_int2(row(key), row(key + 32));
  };
  // Copies `tile`'s K and V rows into its stage; rows past the end are zero-filled, so masked keys
  // multiply finite values.
  auto issue = [&](int tile, int2 lane_rows) {
#pragma unroll
    for (int c = 0; c < L::kCopiesPerThread; ++c) {
      const int piece = threadIdx.x + c * kThreads;
      const int key = piece / L::kChunksPerRow, chunk = piece % L::kChunksPerRow;
      // A round's keys are c * kThreads / kChunksPerRow onwards, fewer than 32: one half.
      const int half_rows = (c * kThreads / L::kChunksPerRow) / 32 == 0 ? lane_rows.x : lane_rows.y;
      const int row = __shfl_sync(0xffffffffu, half_rows, key % 32);
      const size_t offset = static_cast<size_t>(row < 0 ? 0 : row) * kv_row_stride + chunk * L::kElementsPerChunk;
      const int bytes = row < 0 ? 0 : 16;
      const uint32_t k_target =
          static_cast<uint32_t>(__cvta_generic_to_shared(chunk_address(tile % kStages, 0, key, chunk)));
      const uint32_t v_target =
          static_cast<uint32_t>(__cvta_generic_to_shared(chunk_address(tile % kStages, 1, key, chunk)));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(k_target), "l"(k_head + offset), "r"(bytes));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(v_target), "l"(v_head + offset), "r"(bytes));
    }
  };

  // The first kStages - 1 tiles are requested as soon as the cache is written (grid_dependency.cuh:
  // the metadata and block tables are step inputs), before the queries are read.
  int2 lane_rows[kStages];
#pragma unroll
  for (int s = 0; s < kStages; ++s) lane_rows[s] = rows_of_lane(s);
  grid_dependency_wait();
  grid_dependency_launch_dependents();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < num_tiles) issue(s, lane_rows[s]);
    asm volatile("cp.async.commit_group;");
  }
  int2 pending_rows = lane_rows[kStages - 1];

  // The queries as B fragments of Q K^T: column `group` is query head group (zero past the
  // group), k-step kk's rows are head dimensions mma_qk_dim(quad, kk, 0..3).
  uint32_t query_fragment[L::kSteps][2];
  {
    const bf16* query = q + static_cast<size_t>(blockIdx.x) * q_stride + (kv_head * kGroup + group) * kHeadDim;
#pragma unroll
    for (int kk = 0; kk < L::kSteps; ++kk) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float pair[2] = {0.0f, 0.0f};
        if (group < kGroup) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            pair[e] = __bfloat162float(query[mma_qk_dim(quad, kk, 2 * r + e, L::kElementsPerChunk)]);
          }
        }
        query_fragment[kk][r] = pack_pair<Cache>(pair[0], pair[1]);
      }
    }
  }
  // An FP8 cache's scales (written by an earlier kernel when calculated): K's multiplies every
  // score, V's the output.
  const float score_scale = scale * (k_scale != nullptr ? *k_scale : 1.0f);
  const float value_scale = v_scale != nullptr ? *v_scale : 1.0f;

  // Lane (group, quad) owns query columns 2 quad and 2 quad + 1: their running max and (its keys'
  // part of the) sum, and the accumulator entries of those columns.
  float running_max[2] = {-INFINITY, -INFINITY}, running_sum[2] = {0.0f, 0.0f};
  float acc[L::kSteps][4];
#pragma unroll
  for (int i = 0; i < L::kSteps; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
  const int warp_row = warp * kWarpKeys;

  for (int tile = 0; tile < num_tiles; ++tile) {
    asm volatile("cp.async.wait_group %0;" ::"n"(kStages - 2) : "memory");
    // Everyone's copies of this tile have landed, and everyone is done with the stage the next
    // issue overwrites (the tile before this one).
    __syncthreads();
    const int ahead = tile + kStages - 1;
    if (ahead < num_tiles) issue(ahead, pending_rows);
    asm volatile("cp.async.commit_group;");
    pending_rows = rows_of_lane(ahead + 1);
    const int stage = tile % kStages;

    // S^T = K Q^T: rows warp_row + group and + 8, lane chunks quad + 4j.
    float score[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int j = 0; j < L::kChunksPerLane; ++j) {
      const uint4 low = *reinterpret_cast<const uint4*>(chunk_address(stage, 0, warp_row + group, quad + 4 * j));
      const uint4 high = *reinterpret_cast<const uint4*>(chunk_address(stage, 0, warp_row + group + 8, quad + 4 * j));
      const uint32_t low_words[4] = {low.x, low.y, low.z, low.w};
      const uint32_t high_words[4] = {high.x, high.y, high.z, high.w};
      // A chunk holds 16 / (4 * element bytes) k-steps (mma_qk_chunk_of_step, mma_qk_word_of_step).
      constexpr int kStepsPerChunk = L::kElementsPerChunk / 4;
#pragma unroll
      for (int m = 0; m < kStepsPerChunk; ++m) {
        const int kk = kStepsPerChunk * j + m;
        const int w = mma_qk_word_of_step(kk, L::kElementsPerChunk);
        if constexpr (kFp8<Cache>) {
          mma_16816<Cache>(score, e4m3x2_to_f16x2(low_words[w]), e4m3x2_to_f16x2(high_words[w]),
                           e4m3x2_to_f16x2(low_words[w] >> 16), e4m3x2_to_f16x2(high_words[w] >> 16),
                           query_fragment[kk][0], query_fragment[kk][1]);
        } else {
          mma_16816<Cache>(score, low_words[w], high_words[w], low_words[w + 1], high_words[w + 1],
                           query_fragment[kk][0], query_fragment[kk][1]);
        }
      }
    }

    // Online softmax per query column: score[c] and score[c + 2] are column 2 quad + c, keys
    // group and group + 8; the column's other keys are in the lanes of the same quad member.
    const int first_key = keys.key_begin + tile * kTileKeys + warp_row + group;
    const bool low_valid = first_key < keys.key_end, high_valid = first_key + 8 < keys.key_end;
    uint16_t probability_bits[4];
    float correction[2];
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const float s_low = low_valid ? score[c] * score_scale : -INFINITY;
      const float s_high = high_valid ? score[c + 2] * score_scale : -INFINITY;
      float tile_max = fmaxf(s_low, s_high);
#pragma unroll
      for (int offset = 4; offset < 32; offset *= 2) {
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
      }
      const float new_max = fmaxf(running_max[c], tile_max);
      // A column whose keys are all masked so far keeps max -inf; exponents are taken against 0
      // then, which leaves its (zero) state zero instead of NaN.
      const float base = new_max == -INFINITY ? 0.0f : new_max;
      correction[c] = __expf(running_max[c] - base);
      running_max[c] = new_max;
      float rounded_low, rounded_high;
      probability_bits[c] = round_probability<Cache>(__expf(s_low - base), &rounded_low);
      probability_bits[c + 2] = round_probability<Cache>(__expf(s_high - base), &rounded_high);
      running_sum[c] = running_sum[c] * correction[c] + rounded_low + rounded_high;
    }
#pragma unroll
    for (int i = 0; i < L::kSteps; ++i) {
      acc[i][0] *= correction[0], acc[i][1] *= correction[1];
      acc[i][2] *= correction[0], acc[i][3] *= correction[1];
    }
    // P^T's B fragment wants lane (group, quad) to hold query `group`'s keys quad + 4j.
    auto& warp_probabilities = probabilities[warp];
    const int low_slot = mma_probability_slot(group), high_slot = mma_probability_slot(group + 8);
    warp_probabilities[2 * quad][low_slot] = probability_bits[0];
    warp_probabilities[2 * quad + 1][low_slot] = probability_bits[1];
    warp_probabilities[2 * quad][high_slot] = probability_bits[2];
    warp_probabilities[2 * quad + 1][high_slot] = probability_bits[3];
    __syncwarp();
    const uint2 p_fragment = *reinterpret_cast<const uint2*>(&warp_probabilities[group][4 * quad]);

    // O^T += V^T P^T: the lane's V elements (mma_pv_dim) of keys mma_pv_key(quad, 0..3).
    uint32_t value_words[4][L::kValueWords];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int row = warp_row + mma_pv_key(quad, j);
#pragma unroll
      for (int r = 0; r < L::kRuns; ++r) {
        const int byte = mma_pv_dim(group, r * L::kRun, kHeadDim, L::kElementsPerChunk) * L::kElementBytes;
        const char* source = chunk_address(stage, 1, row, byte / 16) + byte % 16;
        if constexpr (L::kRunBytes == 16) {
          const uint4 run = *reinterpret_cast<const uint4*>(source);
          value_words[j][4 * r] = run.x, value_words[j][4 * r + 1] = run.y;
          value_words[j][4 * r + 2] = run.z, value_words[j][4 * r + 3] = run.w;
        } else {
          const uint2 run = *reinterpret_cast<const uint2*>(source);
          value_words[j][2 * r] = run.x, value_words[j][2 * r + 1] = run.y;
        }
      }
    }
#pragma unroll
    for (int i = 0; i < L::kSteps; ++i) {
      // m-tile i: A's row `group` is the lane's element 2i, row group + 8 element 2i + 1; its k
      // positions 2t, 2t+1 are keys j = 0, 1 and 2t+8, 2t+9 keys j = 2, 3.
      uint32_t a[4];
      if constexpr (kFp8<Cache>) {
        const int word = mma_pv_fp8_word(i);
        const uint32_t selector = mma_pv_fp8_selector(i);
        const uint32_t keys01 = __byte_perm(value_words[0][word], value_words[1][word], selector);
        const uint32_t keys23 = __byte_perm(value_words[2][word], value_words[3][word], selector);
        a[0] = e4m3x2_to_f16x2(keys01), a[1] = e4m3x2_to_f16x2(keys01 >> 16);
        a[2] = e4m3x2_to_f16x2(keys23), a[3] = e4m3x2_to_f16x2(keys23 >> 16);
      } else {
        a[0] = __byte_perm(value_words[0][i], value_words[1][i], kMmaLowHalves);
        a[1] = __byte_perm(value_words[0][i], value_words[1][i], kMmaHighHalves);
        a[2] = __byte_perm(value_words[2][i], value_words[3][i], kMmaLowHalves);
        a[3] = __byte_perm(value_words[2][i], value_words[3][i], kMmaHighHalves);
      }
      mma_16816<Cache>(acc[i], a[0], a[1], a[2], a[3], p_fragment.x, p_fragment.y);
    }
    __syncwarp();  // the next tile rewrites this warp's probabilities
  }

  // The column sums over the warp's keys: the lanes of one quad member hold parts of them.
#pragma unroll
  for (int c = 0; c < 2; ++c) {
#pragma unroll
    for (int offset = 4; offset < 32; offset *= 2) {
      running_sum[c] += __shfl_xor_sync(0xffffffffu, running_sum[c], offset);
    }
  }
  asm volatile("cp.async.wait_group 0;" ::: "memory");
  __syncthreads();  // every warp is done with the tiles: the merge reuses their space
  auto& warp_acc_shared = *reinterpret_cast<float (*)[kWarps][kColumns][kHeadDim]>(tile_shared);
#pragma unroll
  for (int c = 0; c < 2; ++c) {
    const int column = 2 * quad + c;
    if (column >= kGroup) continue;
    if (group == 0) {
      warp_max_shared[warp][column] = running_max[c];
      warp_sum_shared[warp][column] = running_sum[c];
    }
#pragma unroll
    for (int i = 0; i < L::kSteps; ++i) {
      warp_acc_shared[warp][column][mma_pv_dim(group, 2 * i, kHeadDim, L::kElementsPerChunk)] = acc[i][c];
      warp_acc_shared[warp][column][mma_pv_dim(group, 2 * i + 1, kHeadDim, L::kElementsPerChunk)] =
          acc[i][c + 2];
    }
  }
  __syncthreads();
  const int token = blockIdx.x, head0 = blockIdx.y * kGroup, num_heads = num_kv_heads * kGroup;
  for (int index = threadIdx.x; index < kGroup * kHeadDim; index += kThreads) {
    const int h = index / kHeadDim, d = index % kHeadDim;
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
    value *= value_scale;
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

// One instantiation with its shared memory and the blocks of it one SM holds, found once.
template <typename Cache>
using MmaKernelFunction = void (*)(const bf16*, const Cache*, const Cache*, const float*, const float*,
                                   const int32_t*, const int32_t*, const int32_t*, int, int, int, int, float, int, int,
                                   bool, bf16*, float*);
template <typename Cache>
struct MmaKernel {
  MmaKernelFunction<Cache> function;
  size_t shared_bytes;
  int resident_blocks_per_sm;
};

template <typename Cache, int kHeadDim, int kGroup>
const MmaKernel<Cache>& mma_kernel() {
  static const MmaKernel<Cache> kernel = [] {
    const MmaKernelFunction<Cache> function = decode_attention_mma_kernel<Cache, kHeadDim, kGroup>;
    const size_t shared_bytes = MmaTileLayout<Cache, kHeadDim>::kSharedBytes;
    // Always: three stages of FP8 at head_dim 128 (or bf16 at 64) are 48 KiB exactly, which with
    // the static arrays exceeds the default limit.
    KILN_CUDA_CHECK(cudaFuncSetAttribute(function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(shared_bytes)));
    int count = 0;
    KILN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&count, function, kThreads, shared_bytes));
    return MmaKernel<Cache>{function, shared_bytes, std::max(1, count)};
  }();
  return kernel;
}

template <typename Cache, int kHeadDim>
const MmaKernel<Cache>& choose_mma_kernel(const AttentionShape& shape) {
  switch (shape.num_heads / shape.num_kv_heads) {
    case 1: return mma_kernel<Cache, kHeadDim, 1>();
    case 2: return mma_kernel<Cache, kHeadDim, 2>();
    case 4: return mma_kernel<Cache, kHeadDim, 4>();
    default: return mma_kernel<Cache, kHeadDim, 8>();
  }
}

template <typename Cache>
void launch_decode_attention_mma(const bf16* q, const Cache* k_cache, const Cache* v_cache, const float* k_scale,
                                 const float* v_scale, const PagedAttentionMetadata& meta,
                                 const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                                 cudaStream_t stream, int q_token_stride, bool decode_only,
                                 const DecodeAttentionTuning& tuning) {
  KILN_CHECK(decode_attention_mma_supports(shape));
  if (meta.num_tokens == 0) return;
  const int q_stride = q_token_stride ? q_token_stride : shape.num_heads * shape.head_dim;
  const MmaKernel<Cache>& kernel =
      shape.head_dim == 64 ? choose_mma_kernel<Cache, 64>(shape) : choose_mma_kernel<Cache, 128>(shape);
  // Whole tiles per split: the split count is then what covers the longest sequence.
  const int max_seq_len = std::max(1, meta.max_seq_len);
  const int wanted = decode_attention_splits(kernel.resident_blocks_per_sm, meta, shape, num_sms, decode_only, tuning);
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

bool decode_attention_mma_supports(const AttentionShape& shape) { return decode_attention_supports(shape); }

void decode_attention_mma(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionMetadata& meta,
                          const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                          cudaStream_t stream, int q_token_stride, bool decode_only,
                          const DecodeAttentionTuning& tuning) {
  launch_decode_attention_mma<bf16>(q, k_cache, v_cache, nullptr, nullptr, meta, shape, scale, out, workspace,
                                    num_sms, stream, q_token_stride, decode_only, tuning);
}

void decode_attention_mma(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                          const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                          cudaStream_t stream, int q_token_stride, bool decode_only,
                          const DecodeAttentionTuning& tuning) {
  launch_decode_attention_mma<uint8_t>(q, cache.k, cache.v, cache.k_scale, cache.v_scale, meta, shape, scale, out,
                                       workspace, num_sms, stream, q_token_stride, decode_only, tuning);
}

void use_decode_attention_mma(bool enabled) { mma_enabled.store(enabled, std::memory_order_relaxed); }

bool decode_attention_mma_enabled() { return mma_enabled.load(std::memory_order_relaxed); }

}  // namespace kiln::cuda
