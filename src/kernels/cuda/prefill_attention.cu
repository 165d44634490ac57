// Prefill attention on tensor cores, FlashAttention-2 style, over the paged bf16 KV cache.
//
// A block owns one sequence's run of `tokens_per_tile` consecutive new tokens times the `group`
// query heads of one KV head: kBlockM rows (row = token * group + head in group), so the query
// heads of a KV group share every K/V tile loaded to shared memory and a tile spans few
// positions (little work is lost on the causal diagonal). Each warp owns kRowTiles slices of 16
// rows. The block walks the keys 0..(its last position) in tiles of kBlockN: cp.async gathers the
// next K and V tiles from the paged cache into the other half of a double buffer while the warps
// compute S = Q K^T (mma.sync m16n8k16 bf16, f32 accumulate, ldmatrix from XOR-swizzled shared
// memory), mask the causal diagonal, update the online softmax in registers (exp2 with the scale
// folded in), and accumulate O += P V with P rounded to bf16. Tiles past the last position are
// never visited; only tiles that cross a row's position are masked.
//
// An FP8 cache (codes, one byte each, a scale per tensor) keeps the asynchronous copies: each K/V
// tile arrives in its codes' own double buffer, and once it has landed the block widens it into
// a single bf16 tile in the swizzled layout (E4M3 values are exact in bf16); the K scale joins
// the softmax scale and the V scale the output. Same shared memory as the bf16 cache's.
//
// Grid: (query tiles of the longest sequence, sequences, KV heads); the tile index runs
// backwards so the longest (last) tiles start first. Blocks past their sequence's new tokens,
// and sequences with one new token (decode: the split-KV kernel takes those), exit at once.
//
// Speculative draft trees (meta.tree_parents, the kTree instantiation of the default tilings):
// each row also gets the bitmask of its token's ancestors among the sequence's first
// kMaxTreeTokens new tokens (walked up its parents once), and keys among the new tokens that are
// not on its path are masked too; rows past kMaxTreeTokens (a long prompt chunk beside a tree)
// stay causal, since a draft tree is never that large.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ops_cuda.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ uint32_t shared_address(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

// 16 bytes global -> shared, bypassing L1; zero-filled when !valid (out-of-range keys must be
// finite zeros: a masked probability of 0 times a garbage NaN would still be NaN).
__device__ __forceinline__ void cp_async_16(uint32_t target, const void* source, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(target), "l"(source),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// c += a (16x16, row) . b (16x8, col), bf16 in, f32 accumulate.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t pack_bf16(float low, float high) {
  const __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&pair);
}

// Element offset of 16-byte chunk `chunk` of row `row` in a [rows][kHeadDim] bf16 tile. The
// chunk index is XORed with the row's low 3 bits, so the 8 rows one ldmatrix reads at the same
// logical chunk fall in 8 different bank groups (rows are 128 or 256 bytes: unswizzled, all 8
// would hit the same banks).
template <int kHeadDim>
__device__ __forceinline__ int swizzle(int row, int chunk) {
  return row * kHeadDim + ((chunk ^ (row & 7)) << 3);
}

template <int kHeadDim, int kWarps, int kRowTiles, int kBlockN, bool kQRegisters>
struct Tiling {
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBlockM = kWarps * kRowTiles * 16;
  static constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per row
  static constexpr int kKvTileElements = kBlockN * kHeadDim;
  // bf16 cache: Q, then K and V double-buffered. FP8 cache: Q, K and V's bf16 tiles, then their
  // codes double-buffered (the same bytes).
  static constexpr int kSharedBytes = (kBlockM * kHeadDim + 4 * kKvTileElements) * 2;
  // Q's fragments stay in registers, or (when O and S leave too few) are re-read from shared
  // memory at each key tile.
  static constexpr bool kQInRegisters = kQRegisters;
  static_assert(kHeadDim % 16 == 0 && kBlockN % 16 == 0, "mma tiles are 16 wide");
  static_assert((kBlockN * kChunks) % kThreads == 0, "whole K/V tile loads per thread");
};

// 16 FP8 codes (one 16-byte chunk) widened to bf16 at two 8-element chunks of a swizzled tile.
__device__ __forceinline__ void widen_fp8_chunk(const uint8_t* codes, bf16* first, bf16* second) {
  const uint4 packed = *reinterpret_cast<const uint4*>(codes);
  const uint16_t* pairs = reinterpret_cast<const uint16_t*>(&packed);
  uint32_t widened[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const __half2_raw raw = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pairs[i]), __NV_E4M3);
    const float2 f = __half22float2(__half2(raw));
    widened[i] = pack_bf16(f.x, f.y);
  }
  *reinterpret_cast<uint4*>(first) = make_uint4(widened[0], widened[1], widened[2], widened[3]);
  *reinterpret_cast<uint4*>(second) = make_uint4(widened[4], widened[5], widened[6], widened[7]);
}

// New tokens of a sequence whose ancestry a tree row tracks (two 64-bit words).
constexpr int kMaxTreeTokens = 128;

template <typename Cache, int kHeadDim, int kWarps, int kRowTiles, int kBlockN, bool kQRegisters, bool kTree>
__global__ void __launch_bounds__(kWarps * 32)
    prefill_attention_kernel(const bf16* __restrict__ q, const Cache* __restrict__ k_cache,
                             const Cache* __restrict__ v_cache, const float* __restrict__ k_scale,
                             const float* __restrict__ v_scale, const int32_t* __restrict__ query_start,
                             const int32_t* __restrict__ seq_lens,
                             const int32_t* __restrict__ block_tables, int max_blocks_per_seq,
                             int block_size, int block_shift, int num_heads, int num_kv_heads,
                             int group, int tokens_per_tile, float scale_log2, int q_stride,
                             const int32_t* __restrict__ tree_parents, bf16* __restrict__ out) {
  using T = Tiling<kHeadDim, kWarps, kRowTiles, kBlockN, kQRegisters>;
  constexpr bool kFp8 = sizeof(Cache) == 1;
  constexpr int kChunks = T::kChunks;
  constexpr int kDimTiles = kHeadDim / 8;  // n-tiles of O
  constexpr int kKeyTiles = kBlockN / 8;   // n-tiles of S
  constexpr int kBf16Stages = kFp8 ? 1 : 2;  // bf16 K/V tiles: copied into (2) or widened into (1)
  extern __shared__ __align__(128) unsigned char shared_raw[];
  bf16* q_shared = reinterpret_cast<bf16*>(shared_raw);        // [kBlockM][kHeadDim]
  bf16* k_shared = q_shared + T::kBlockM * kHeadDim;             // [kBf16Stages][kBlockN][kHeadDim]
  bf16* v_shared = k_shared + kBf16Stages * T::kKvTileElements;  // [kBf16Stages][kBlockN][kHeadDim]
  // FP8 codes as copied: [2][kBlockN][kHeadDim] each, plain rows.
  uint8_t* k_codes = reinterpret_cast<uint8_t*>(v_shared + kBf16Stages * T::kKvTileElements);
  uint8_t* v_codes = k_codes + 2 * T::kKvTileElements;

  const int seq = blockIdx.y;
  const int kv_head = blockIdx.z;
  const int q_begin = query_start[seq];
  const int q_len = query_start[seq + 1] - q_begin;
  if (q_len <= 1) return;  // a decode token: the split-KV kernel's
  const int first_token = (gridDim.x - 1 - blockIdx.x) * tokens_per_tile;
  if (first_token >= q_len) return;
  const int seq_len = seq_lens[seq];
  const int tile_tokens = min(tokens_per_tile, q_len - first_token);
  const int min_position = seq_len - q_len + first_token;
  const int max_position = min_position + tile_tokens - 1;
  const int num_key_tiles = max_position / kBlockN + 1;
  const int32_t* table = block_tables + static_cast<size_t>(seq) * max_blocks_per_seq;
  const size_t kv_row_stride = static_cast<size_t>(num_kv_heads) * kHeadDim;
  const Cache* k_head = k_cache + kv_head * kHeadDim;
  const Cache* v_head = v_cache + kv_head * kHeadDim;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if constexpr (kFp8) scale_log2 *= *k_scale;
  const float output_scale = kFp8 ? *v_scale : 1.0f;

  // Q rows: row = token_in_tile * group + head_in_group; rows past the tile's tokens are zeros.
  for (int index = threadIdx.x; index < T::kBlockM * kChunks; index += T::kThreads) {
    const int row = index / kChunks, chunk = index % kChunks;
    const int token = row / group;
    const bool valid = token < tile_tokens;
    const bf16* source =
        valid ? q + static_cast<size_t>(q_begin + first_token + token) * q_stride +
                    (kv_head * group + row % group) * kHeadDim + chunk * 8
              : q;
    cp_async_16(shared_address(q_shared + swizzle<kHeadDim>(row, chunk)), source, valid);
  }

  // Each thread copies the same 16-byte chunk of kBlockN * kCopyChunks / kThreads rows of a K/V
  // tile: into the swizzled bf16 tile, or as codes into their own buffer.
  constexpr int kCopyElements = 16 / static_cast<int>(sizeof(Cache));
  constexpr int kCopyChunks = kHeadDim / kCopyElements;
  auto load_kv_tile = [&](int key_tile, int stage) {
    const int chunk = threadIdx.x % kCopyChunks;
    constexpr int kRowStep = T::kThreads / kCopyChunks;
#pragma unroll
    for (int i = 0; i < kBlockN / kRowStep; ++i) {
      const int row = threadIdx.x / kCopyChunks + i * kRowStep;
      const int key = key_tile * kBlockN + row;
      const bool valid = key < seq_len;
      size_t offset = 0;
      if (valid) {
        const int page = block_shift >= 0 ? key >> block_shift : key / block_size;
        const int slot = key - page * block_size;
        offset = (static_cast<size_t>(table[page]) * block_size + slot) * kv_row_stride + chunk * kCopyElements;
      }
      if constexpr (kFp8) {
        const int target = stage * T::kKvTileElements + row * kHeadDim + chunk * kCopyElements;
        cp_async_16(shared_address(k_codes + target), k_head + offset, valid);
        cp_async_16(shared_address(v_codes + target), v_head + offset, valid);
      } else {
        const int target = stage * T::kKvTileElements + swizzle<kHeadDim>(row, chunk);
        cp_async_16(shared_address(k_shared + target), k_head + offset, valid);
        cp_async_16(shared_address(v_shared + target), v_head + offset, valid);
      }
    }
  };
  // FP8: the landed codes of `stage` widened into the bf16 tiles (zero-filled rows stay zeros).
  auto widen_kv_tile = [&](int stage) {
    for (int index = threadIdx.x; index < kBlockN * kCopyChunks; index += T::kThreads) {
      const int row = index / kCopyChunks, chunk = index % kCopyChunks;
      const int source = stage * T::kKvTileElements + row * kHeadDim + chunk * kCopyElements;
      widen_fp8_chunk(k_codes + source, k_shared + swizzle<kHeadDim>(row, 2 * chunk),
                      k_shared + swizzle<kHeadDim>(row, 2 * chunk + 1));
      widen_fp8_chunk(v_codes + source, v_shared + swizzle<kHeadDim>(row, 2 * chunk),
                      v_shared + swizzle<kHeadDim>(row, 2 * chunk + 1));
    }
  };

  // This thread's rows: (warp * kRowTiles + r) * 16 + lane / 4 + 8 * h, for h = 0, 1.
  int row_position[kRowTiles][2];
#pragma unroll
  for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int token = ((warp * kRowTiles + r) * 16 + lane / 4 + 8 * h) / group;
      row_position[r][h] = token < tile_tokens ? min_position + token : max_position;
    }
  }
  // Draft trees: each row's ancestors (itself included) among the first kMaxTreeTokens new
  // tokens; all ones for a row that is past them or not a token (causal).
  const int first_new = seq_len - q_len;
  uint64_t ancestors[kTree ? kRowTiles : 1][2][2];
  if constexpr (kTree) {
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int local = row_position[r][h] - first_new;
        const int token = ((warp * kRowTiles + r) * 16 + lane / 4 + 8 * h) / group;
        uint64_t bits[2] = {~0ull, ~0ull};
        if (token < tile_tokens && local < kMaxTreeTokens) {
          bits[0] = bits[1] = 0;
          for (int j = local; j >= 0; j = tree_parents[q_begin + j]) bits[j >> 6] |= 1ull << (j & 63);
        }
        ancestors[r][h][0] = bits[0];
        ancestors[r][h][1] = bits[1];
      }
    }
  }
  float o[kRowTiles][kDimTiles][4];
  float row_max[kRowTiles][2], row_sum[kRowTiles][2];
#pragma unroll
  for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
    for (int d = 0; d < kDimTiles; ++d) {
#pragma unroll
      for (int e = 0; e < 4; ++e) o[r][d][e] = 0.0f;
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      row_max[r][h] = -INFINITY;
      row_sum[r][h] = 0.0f;
    }
  }
  uint32_t q_frag[T::kQInRegisters ? kRowTiles : 1][T::kQInRegisters ? kHeadDim / 16 : 1][4];

  // ldmatrix source rows/chunks of this lane (see the fragment layouts of mma.m16n8k16).
  const int a_row = lane & 15, a_chunk = lane >> 4;                       // Q (A, row-major)
  const int k_row = (lane & 7) + ((lane >> 4) << 3), k_chunk = (lane >> 3) & 1;  // K (B, col)
  const int v_row = (lane & 7) + (((lane >> 3) & 1) << 3), v_chunk = lane >> 4;  // V (B, trans)

  load_kv_tile(0, 0);
  cp_async_commit();
  for (int key_tile = 0; key_tile < num_key_tiles; ++key_tile) {
    const int stage = key_tile & 1;
    // One barrier per tile: once every warp has passed it, tile key_tile has landed and the
    // other stage (read in the previous iteration) is free for the prefetch, which then
    // overlaps this tile's arithmetic.
    cp_async_wait<0>();
    __syncthreads();
    if (key_tile + 1 < num_key_tiles) load_kv_tile(key_tile + 1, stage ^ 1);
    cp_async_commit();
    if constexpr (kFp8) {
      // Every warp is past the previous tile's arithmetic (the barrier above), so its bf16 tile
      // is free; a second barrier publishes the widened one.
      widen_kv_tile(stage);
      __syncthreads();
    }
    if constexpr (T::kQInRegisters) {
      if (key_tile == 0) {
#pragma unroll
        for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
          for (int ks = 0; ks < kHeadDim / 16; ++ks) {
            ldmatrix_x4(q_frag[r][ks], shared_address(q_shared + swizzle<kHeadDim>(
                                           (warp * kRowTiles + r) * 16 + a_row, ks * 2 + a_chunk)));
          }
        }
      }
    }
    const bf16* k_tile = k_shared + (kFp8 ? 0 : stage) * T::kKvTileElements;
    const bf16* v_tile = v_shared + (kFp8 ? 0 : stage) * T::kKvTileElements;

    // S = Q K^T for this warp's rows and the tile's kBlockN keys.
    float s[kRowTiles][kKeyTiles][4];
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) s[r][n][e] = 0.0f;
      }
    }
#pragma unroll
    for (int ks = 0; ks < kHeadDim / 16; ++ks) {
      uint32_t a[kRowTiles][4];
#pragma unroll
      for (int r = 0; r < kRowTiles; ++r) {
        if constexpr (T::kQInRegisters) {
#pragma unroll
          for (int e = 0; e < 4; ++e) a[r][e] = q_frag[r][ks][e];
        } else {
          ldmatrix_x4(a[r], shared_address(q_shared + swizzle<kHeadDim>((warp * kRowTiles + r) * 16 + a_row,
                                                                       ks * 2 + a_chunk)));
        }
      }
#pragma unroll
      for (int np = 0; np < kKeyTiles / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, shared_address(k_tile + swizzle<kHeadDim>(np * 16 + k_row, ks * 2 + k_chunk)));
#pragma unroll
        for (int r = 0; r < kRowTiles; ++r) {
          mma_bf16(s[r][2 * np], a[r], b[0], b[1]);
          mma_bf16(s[r][2 * np + 1], a[r], b[2], b[3]);
        }
      }
    }

    // Causal mask, only on tiles that reach past the block's first position (with a tree, past
    // the sequence's first new token: earlier new tokens may be off a row's path).
    const int key0 = key_tile * kBlockN;
    if (key0 + kBlockN - 1 > (kTree ? first_new : min_position)) {
#pragma unroll
      for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
        for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = key0 + n * 8 + (lane & 3) * 2 + (e & 1);
            bool masked = key > row_position[r][e >> 1];
            if constexpr (kTree) {
              const int local = key - first_new;
              masked = masked || (local >= 0 && local < kMaxTreeTokens &&
                                  !((ancestors[r][e >> 1][local >> 6] >> (local & 63)) & 1ull));
            }
            if (masked) s[r][n][e] = -INFINITY;
          }
        }
      }
    }

    // Online softmax in the log2 domain. Keys ascend, so every row's first tile holds key 0,
    // which every row sees: the running max is finite from the first tile on.
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float tile_max = -INFINITY;
#pragma unroll
        for (int n = 0; n < kKeyTiles; ++n) tile_max = fmaxf(tile_max, fmaxf(s[r][n][2 * h], s[r][n][2 * h + 1]));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
        const float new_max = fmaxf(row_max[r][h], tile_max * scale_log2);
        const float rescale = fast_exp2(row_max[r][h] - new_max);
        row_max[r][h] = new_max;
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
          for (int e = 2 * h; e < 2 * h + 2; ++e) {
            const float p = fast_exp2(fmaf(s[r][n][e], scale_log2, -new_max));
            s[r][n][e] = p;
            sum += p;
          }
        }
        // Partial sums per thread; the quad's four are added once at the end.
        row_sum[r][h] = row_sum[r][h] * rescale + sum;
#pragma unroll
        for (int d = 0; d < kDimTiles; ++d) {
          o[r][d][2 * h] *= rescale;
          o[r][d][2 * h + 1] *= rescale;
        }
      }
    }

    // O += P V: S's accumulator layout of two adjacent key tiles is the A fragment of P.
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      uint32_t a[kRowTiles][4];
#pragma unroll
      for (int r = 0; r < kRowTiles; ++r) {
        a[r][0] = pack_bf16(s[r][2 * kk][0], s[r][2 * kk][1]);
        a[r][1] = pack_bf16(s[r][2 * kk][2], s[r][2 * kk][3]);
        a[r][2] = pack_bf16(s[r][2 * kk + 1][0], s[r][2 * kk + 1][1]);
        a[r][3] = pack_bf16(s[r][2 * kk + 1][2], s[r][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < kDimTiles / 2; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, shared_address(v_tile + swizzle<kHeadDim>(kk * 16 + v_row, dp * 2 + v_chunk)));
#pragma unroll
        for (int r = 0; r < kRowTiles; ++r) {
          mma_bf16(o[r][2 * dp], a[r], b[0], b[1]);
          mma_bf16(o[r][2 * dp + 1], a[r], b[2], b[3]);
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRowTiles; ++r) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float sum = row_sum[r][h];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int row = (warp * kRowTiles + r) * 16 + lane / 4 + 8 * h;
      const int token = row / group;
      if (token >= tile_tokens) continue;
      const float inverse = output_scale / sum;
      bf16* target = out + (static_cast<size_t>(q_begin + first_token + token) * num_heads +
                            kv_head * group + row % group) * kHeadDim + (lane & 3) * 2;
#pragma unroll
      for (int d = 0; d < kDimTiles; ++d) {
        *reinterpret_cast<__nv_bfloat162*>(target + d * 8) =
            __floats2bfloat162_rn(o[r][d][2 * h] * inverse, o[r][d][2 * h + 1] * inverse);
      }
    }
  }
}

template <int kHeadDim, int kWarps, int kRowTiles, int kBlockN, bool kQRegisters, bool kTree = false, typename Cache>
void launch(const bf16* q, const Cache* k_cache, const Cache* v_cache, const float* k_scale, const float* v_scale,
            const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale, bf16* out,
            cudaStream_t stream, int q_stride) {
  using T = Tiling<kHeadDim, kWarps, kRowTiles, kBlockN, kQRegisters>;
  const int group = shape.num_heads / shape.num_kv_heads;
  const int tokens_per_tile = T::kBlockM / group;
  // 0 = unknown: no sequence has more new tokens than the step.
  const int max_query_len = meta.max_query_len > 0 ? meta.max_query_len : meta.num_tokens;
  const int block_shift =
      (meta.block_size & (meta.block_size - 1)) == 0 ? __builtin_ctz(static_cast<unsigned>(meta.block_size)) : -1;
  const dim3 grid((max_query_len + tokens_per_tile - 1) / tokens_per_tile, meta.num_seqs, shape.num_kv_heads);
  auto* kernel = prefill_attention_kernel<Cache, kHeadDim, kWarps, kRowTiles, kBlockN, kQRegisters, kTree>;
  KILN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSharedBytes));
  kernel<<<grid, T::kThreads, T::kSharedBytes, stream>>>(
      q, k_cache, v_cache, k_scale, v_scale, meta.query_start, meta.seq_lens, meta.block_tables, meta.max_blocks_per_seq,
      meta.block_size, block_shift, shape.num_heads, shape.num_kv_heads, group, tokens_per_tile,
      scale * static_cast<float>(M_LOG2E), q_stride, meta.tree_parents, out);
  KILN_CUDA_CHECK_LAUNCH();
}

// Rows per block of each tiling (the largest GQA group a tiling can hold).
int block_rows(PrefillTiling tiling) {
  switch (tiling) {
    case PrefillTiling::kWarps4Rows64Keys64: return 64;
    case PrefillTiling::kWarps4Rows128Keys32: return 128;
    case PrefillTiling::kWarps4Rows128Keys64: return 128;
    case PrefillTiling::kWarps8Rows128Keys64: return 128;
    case PrefillTiling::kWarps4Rows128Keys32QRegs: return 128;
    case PrefillTiling::kDefault: break;
  }
  return 64;
}

}  // namespace

// The default tiling: the fastest measured at the 8B shape (bench/cuda/NOTES.md).
constexpr PrefillTiling kDefaultPrefillTiling = PrefillTiling::kWarps4Rows128Keys64;

bool prefill_attention_supports(const AttentionShape& shape, PrefillTiling tiling) {
  if (tiling == PrefillTiling::kDefault) tiling = kDefaultPrefillTiling;
  const int group = shape.num_kv_heads > 0 ? shape.num_heads / shape.num_kv_heads : 0;
  // head_dim 64 always runs the 64-row tiling.
  const int rows = shape.head_dim == 64 ? 64 : block_rows(tiling);
  return (shape.head_dim == 64 || shape.head_dim == 128) && group >= 1 &&
         shape.num_heads % shape.num_kv_heads == 0 && group <= rows;
}

namespace {

template <typename Cache>
void dispatch_prefill_attention(const bf16* q, const Cache* k_cache, const Cache* v_cache, const float* k_scale,
                                const float* v_scale, const PagedAttentionMetadata& meta, const AttentionShape& shape,
                                float scale, bf16* out, cudaStream_t stream, int q_token_stride,
                                PrefillTiling tiling) {
  if (meta.num_tokens == 0 || meta.num_seqs == 0) return;
  if (tiling == PrefillTiling::kDefault) tiling = kDefaultPrefillTiling;
  KILN_CHECK(prefill_attention_supports(shape, tiling))
      << "prefill_attention: head_dim " << shape.head_dim << ", " << shape.num_heads << " heads over "
      << shape.num_kv_heads << " KV heads";
  KILN_CHECK(meta.block_size > 0) << "prefill_attention: block_size " << meta.block_size;
  const int q_stride = q_token_stride ? q_token_stride : shape.num_heads * shape.head_dim;
  if (meta.tree_parents != nullptr) {
    // Draft trees: the masked instantiations of the head_dim 64 tiling and the default one.
    if (shape.head_dim == 64) {
      return launch<64, 4, 1, 64, true, true>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream,
                                              q_stride);
    }
    return launch<128, 4, 2, 64, false, true>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream,
                                              q_stride);
  }
  if (shape.head_dim == 64) {
    // head_dim 64 (small models): one tiling, few registers.
    return launch<64, 4, 1, 64, true>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream,
                                      q_stride);
  }
  switch (tiling) {
    case PrefillTiling::kWarps4Rows128Keys32:
      return launch<128, 4, 2, 32, false>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream,
                                          q_stride);
    case PrefillTiling::kWarps4Rows128Keys64:
      return launch<128, 4, 2, 64, false>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream,
                                          q_stride);
    case PrefillTiling::kWarps8Rows128Keys64:
      return launch<128, 8, 1, 64, true>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream,
                                         q_stride);
    case PrefillTiling::kWarps4Rows128Keys32QRegs:
      return launch<128, 4, 2, 32, true>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream,
                                         q_stride);
    case PrefillTiling::kWarps4Rows64Keys64:
    case PrefillTiling::kDefault:
      break;
  }
  launch<128, 4, 1, 64, true>(q, k_cache, v_cache, k_scale, v_scale, meta, shape, scale, out, stream, q_stride);
}

}  // namespace

void prefill_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache,
                       const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                       bf16* out, cudaStream_t stream, int q_token_stride, PrefillTiling tiling) {
  dispatch_prefill_attention<bf16>(q, k_cache, v_cache, nullptr, nullptr, meta, shape, scale, out, stream,
                                   q_token_stride, tiling);
}

void prefill_attention(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                       const AttentionShape& shape, float scale, bf16* out, cudaStream_t stream, int q_token_stride,
                       PrefillTiling tiling) {
  dispatch_prefill_attention<uint8_t>(q, cache.k, cache.v, cache.k_scale, cache.v_scale, meta, shape, scale, out,
                                      stream, q_token_stride, tiling);
}

}  // namespace kiln::cuda
