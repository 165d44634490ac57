// Where the tensor-core decode attention kernel (decode_attention_mma.cu) keeps each element:
// the shared-memory swizzle of its K/V tiles and which head dimension or key each lane feeds into
// which position of an mma.m16n8k16 fragment. Plain integer functions, host and device, so a CPU
// test (tests/unit/kernels/cuda/decode_attention_mma_layout_test.cc) can emulate a warp's mma with
// the PTX ISA's fragment tables and check that the kernel's products are the attention's.
//
// PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type" (lane = 4 * group + t):
//   A (16 x 16): register 0 holds (row group, columns 2t, 2t+1), register 1 (row group + 8, the
//     same columns), register 2 (row group, columns 2t+8, 2t+9), register 3 (row group + 8, those).
//   B (16 x 8): register 0 holds (rows 2t, 2t+1, column group), register 1 (rows 2t+8, 2t+9).
//   C (16 x 8, f32): c0, c1 = (row group, columns 2t, 2t+1), c2, c3 = (row group + 8, the same).
// The lower 16 bits of a register hold the element with the lower column (A) or row (B) index.
//
// A sum over k does not care in which order its terms come, so each product's k positions map
// to head dimensions (Q K^T) or keys (P.V) as suits the loads: a lane reads whole 16-byte chunks.
#pragma once

#if defined(__CUDACC__)
#define KILN_MMA_LAYOUT_FN __host__ __device__ __forceinline__ constexpr
#else
#define KILN_MMA_LAYOUT_FN inline constexpr
#endif

namespace kiln::cuda {

constexpr int kMmaWarps = 4;
constexpr int kMmaWarpKeys = 16;                    // the mma's 16 rows: warp w takes keys 16w..16w+15
constexpr int kMmaTileKeys = kMmaWarps * kMmaWarpKeys;  // keys per pipelined tile
constexpr int kMmaColumns = 8;                      // the mma's 8 columns: the group's query heads, padded

// The position of 16-byte chunk `chunk` of tile row `row` (one key's K or V) in shared memory.
// Without it every row starts in the same bank and a lane quad's reads of 8 rows conflict 8 ways.
// Bit 2 of the pattern differs between rows 2p and 2p+1 (Q K^T: a quarter warp reads those two
// rows, four chunks each, which then land in different halves of the 128-byte bank line) and
// bits 1-2 differ between the 4 rows of an aligned quad (P.V: a quarter warp reads 4 consecutive
// rows, two neighbouring chunks each). Rows of 4 chunks (FP8 at head_dim 64) take bits 0-1 only.
KILN_MMA_LAYOUT_FN int mma_swizzled_chunk(int row, int chunk, int chunks_per_row) {
  const int pattern = ((row & 1) << 2) | (row & 2) | ((row >> 2) & 1);
  return chunk ^ (pattern & ((chunks_per_row < 8 ? chunks_per_row : 8) - 1));
}

// Q K^T, with the warp's 16 keys as A's rows and the queries as B's columns: lane quad member t
// reads chunks t, t+4, t+8, ... of its two key rows (group and group + 8) and uses their elements
// in order, four per k-step. Element e (0..3: k positions 2t, 2t+1, 2t+8, 2t+9) of k-step kk is
// this head dimension, for K and for the query alike.
KILN_MMA_LAYOUT_FN int mma_qk_dim(int t, int kk, int e, int elements_per_chunk) {
  const int n = 4 * kk + e;
  return (t + 4 * (n / elements_per_chunk)) * elements_per_chunk + n % elements_per_chunk;
}

// Where the kernel finds k-step kk's K elements among the chunks it read (quad + 4j, j = 0, 1, ...)
// of a key row: chunk j = mma_qk_chunk_of_step, from 32-bit word mma_qk_word_of_step. FP8: that word's low
// two codes are the A register of k positions 2t, 2t+1, its high two those of 2t+8, 2t+9. bf16:
// the word is k positions 2t, 2t+1, the next word 2t+8, 2t+9.
KILN_MMA_LAYOUT_FN int mma_qk_chunk_of_step(int kk, int elements_per_chunk) { return 4 * kk / elements_per_chunk; }
KILN_MMA_LAYOUT_FN int mma_qk_word_of_step(int kk, int elements_per_chunk) {
  return 4 * kk % elements_per_chunk * (16 / elements_per_chunk) / 4;
}

// P.V computes O^T = V^T P^T: A's 16 rows are head dimensions, its k positions the warp's keys,
// B's columns the queries. Lane quad member t feeds keys t, t+4, t+8, t+12 (k positions 2t, 2t+1,
// 2t+8, 2t+9), so a quarter warp reads 4 consecutive rows.
KILN_MMA_LAYOUT_FN int mma_pv_key(int t, int j) { return t + 4 * j; }

// The head dimension of element n (0 .. head_dim/8 - 1) of the V data lane group `group` reads
// from each key row: runs of min(chunk, head_dim/8) elements, run r at r * 8 runs' width. m-tile i
// takes element 2i as A's row `group` and 2i + 1 as row group + 8, which are then the output's
// dimensions in the accumulator's c0/c1 and c2/c3.
KILN_MMA_LAYOUT_FN int mma_pv_dim(int group, int n, int head_dim, int elements_per_chunk) {
  const int run = head_dim / 8 < elements_per_chunk ? head_dim / 8 : elements_per_chunk;
  return (n / run) * 8 * run + group * run + n % run;
}

// P.V m-tile i over an FP8 cache: the word of the lane's V data (per key row) holding elements
// 2i and 2i + 1, and the PRMT selector that takes from two key rows' words (a, b) the codes
// (a's 2i, b's 2i, a's 2i + 1, b's 2i + 1): the low pair is A's row `group`, the high pair row
// group + 8. Over a bf16 cache word i holds elements 2i (low half) and 2i + 1, and the selectors
// are kMmaLowHalves (a's 2i, b's 2i) and kMmaHighHalves.
KILN_MMA_LAYOUT_FN int mma_pv_fp8_word(int i) { return i / 2; }
KILN_MMA_LAYOUT_FN unsigned mma_pv_fp8_selector(int i) {
  const unsigned byte = 2u * static_cast<unsigned>(i % 2);
  return byte | (byte + 4) << 4 | (byte + 1) << 8 | (byte + 5) << 12;
}
constexpr unsigned kMmaLowHalves = 0x5410, kMmaHighHalves = 0x7632;

// A query row's probabilities are stored (16-bit each) with key mma_pv_key(t, j) at 4t + j, so lane
// (group, t) reads its B fragment of P^T, keys t, t+4, t+8, t+12 of query `group`, as 8 bytes.
KILN_MMA_LAYOUT_FN int mma_probability_slot(int key) { return 4 * (key & 3) + (key >> 2); }

}  // namespace kiln::cuda

#undef KILN_MMA_LAYOUT_FN
