// decode_attention_mma.cu's fragment layout, checked on the CPU (no GPU needed: this runs in CI):
// one warp's data path is replayed as the kernel does it — tile rows copied into the swizzled
// stage, each lane's loads, words and byte permutes (decode_attention_mma_layout.h) — and the two
// mma.m16n8k16 products are emulated with the PTX ISA's fragment tables, written here from the
// ISA independently of the kernel. With small integer values every product is exact, so S^T and
// O^T must equal K Q^T and V^T P^T exactly, each output element written once.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/decode_attention_mma_layout.h"
#include "tensor/dtype.h"

namespace kiln::cuda {
namespace {

// A 32-bit register as two values (low half first), decoded from the operand type.
using Pair = std::array<double, 2>;

// The PTX ISA's m16n8k16 tables (floating point): lane = 4 * group + t.
struct Cell {
  int row, col;
};
Cell a_cell(int lane, int reg, int half) {  // A: registers 0-3 hold a0..a7 two at a time
  return {lane / 4 + 8 * (reg & 1), 2 * (lane % 4) + half + 8 * (reg >> 1)};
}
Cell b_cell(int lane, int reg, int half) { return {2 * (lane % 4) + half + 8 * reg, lane / 4}; }
Cell c_cell(int lane, int i) { return {lane / 4 + 8 * (i / 2), 2 * (lane % 4) + (i & 1)}; }

// D = A B over the warp's registers: a[lane][4], b[lane][2]; returns d[lane][4].
std::vector<std::array<double, 4>> emulate_mma(const std::vector<std::array<Pair, 4>>& a,
                                               const std::vector<std::array<Pair, 2>>& b) {
  double A[16][16] = {}, B[16][8] = {};
  for (int lane = 0; lane < 32; ++lane) {
    for (int reg = 0; reg < 4; ++reg) {
      for (int half = 0; half < 2; ++half) {
        const Cell cell = a_cell(lane, reg, half);
        A[cell.row][cell.col] = a[lane][reg][half];
      }
    }
    for (int reg = 0; reg < 2; ++reg) {
      for (int half = 0; half < 2; ++half) {
        const Cell cell = b_cell(lane, reg, half);
        B[cell.row][cell.col] = b[lane][reg][half];
      }
    }
  }
  std::vector<std::array<double, 4>> d(32);
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 4; ++i) {
      const Cell c = c_cell(lane, i);
      double sum = 0;
      for (int k = 0; k < 16; ++k) sum += A[c.row][k] * B[k][c.col];
      d[lane][i] = sum;
    }
  }
  return d;
}

// PRMT: byte i of the result is byte (selector nibble i) of {x, y} (x bytes 0-3, y bytes 4-7).
uint32_t byte_perm(uint32_t x, uint32_t y, uint32_t selector) {
  const uint64_t both = x | static_cast<uint64_t>(y) << 32;
  uint32_t out = 0;
  for (int i = 0; i < 4; ++i) {
    const int source = (selector >> (4 * i)) & 7;
    out |= static_cast<uint32_t>((both >> (8 * source)) & 0xff) << (8 * i);
  }
  return out;
}

struct Config {
  int element_bytes, head_dim, group;
};

class DecodeAttentionMmaLayout : public ::testing::TestWithParam<Config> {
 protected:
  double decode(uint32_t bits) const {  // one element: an E4M3 code or bf16 bits
    return config().element_bytes == 1 ? fp8_e4m3_to_f32(static_cast<uint8_t>(bits))
                                       : bf16_to_f32(static_cast<uint16_t>(bits));
  }
  Pair pair_of(uint32_t word) const {  // f16x2 from the low two codes (FP8), or a bf16x2 word
    return config().element_bytes == 1 ? Pair{decode(word & 0xff), decode((word >> 8) & 0xff)}
                                       : Pair{decode(word & 0xffff), decode(word >> 16)};
  }
  // A random element with a small exact value, as stored bits.
  uint32_t random_element(std::mt19937& rng) const {
    std::uniform_int_distribution<int> small(-8, 8);
    if (config().element_bytes == 1) {
      std::uniform_int_distribution<int> code(0, 255);
      uint8_t c;
      do c = static_cast<uint8_t>(code(rng));
      while ((c & 0x7f) == 0x7f);
      return c;
    }
    return f32_to_bf16(static_cast<float>(small(rng)));
  }
  Config config() const { return GetParam(); }
};

TEST_P(DecodeAttentionMmaLayout, WarpProductsAreKQAndVP) {
  const Config cfg = config();
  const int E = cfg.element_bytes, D = cfg.head_dim, G = cfg.group;
  const int row_bytes = D * E, chunks_per_row = row_bytes / 16, elements_per_chunk = 16 / E;
  std::mt19937 rng(static_cast<unsigned>(D * 10 + E + G * 100));

  // The cache rows of one tile (K and V, stored bits) and the stage the kernel copies them into.
  std::vector<uint8_t> k_rows(static_cast<size_t>(kMmaTileKeys) * row_bytes), v_rows(k_rows.size());
  for (std::vector<uint8_t>* rows : {&k_rows, &v_rows}) {
    for (size_t i = 0; i < rows->size() / E; ++i) {
      const uint32_t bits = random_element(rng);
      std::memcpy(rows->data() + i * E, &bits, E);  // little-endian, as the GPU
    }
  }
  std::vector<uint8_t> k_stage(k_rows.size()), v_stage(v_rows.size());
  for (int row = 0; row < kMmaTileKeys; ++row) {
    for (int chunk = 0; chunk < chunks_per_row; ++chunk) {
      const size_t from = static_cast<size_t>(row) * row_bytes + chunk * 16;
      const size_t to = static_cast<size_t>(row) * row_bytes + mma_swizzled_chunk(row, chunk, chunks_per_row) * 16;
      std::memcpy(&k_stage[to], &k_rows[from], 16);
      std::memcpy(&v_stage[to], &v_rows[from], 16);
    }
  }
  auto element = [&](const std::vector<uint8_t>& rows, int row, int d) {
    uint32_t bits = 0;
    std::memcpy(&bits, &rows[static_cast<size_t>(row) * row_bytes + d * E], E);
    return decode(bits);
  };
  auto stage_word = [&](const std::vector<uint8_t>& stage, int row, int byte) {  // byte within the row
    uint32_t word;
    std::memcpy(&word, &stage[static_cast<size_t>(row) * row_bytes +
                              mma_swizzled_chunk(row, byte / 16, chunks_per_row) * 16 + byte % 16],
                4);
    return word;
  };
  std::uniform_int_distribution<int> small(-4, 4);
  std::vector<std::vector<double>> query(kMmaColumns, std::vector<double>(D, 0.0));
  for (int h = 0; h < G; ++h) {
    for (double& value : query[h]) value = small(rng);
  }

  const int warp_row = 2 * kMmaWarpKeys;  // the third warp's keys
  // S^T = K Q^T, k-step by k-step as the kernel loops (chunks quad + 4j, steps within a chunk).
  std::vector<std::array<double, 4>> score(32, std::array<double, 4>{});
  const int steps_per_chunk = elements_per_chunk / 4;
  for (int kk = 0; kk < D / 16; ++kk) {
    std::vector<std::array<Pair, 4>> a(32);
    std::vector<std::array<Pair, 2>> b(32);
    for (int lane = 0; lane < 32; ++lane) {
      const int group = lane / 4, quad = lane % 4;
      const int chunk = quad + 4 * mma_qk_chunk_of_step(kk, elements_per_chunk);
      ASSERT_EQ(mma_qk_chunk_of_step(kk, elements_per_chunk), kk / steps_per_chunk);
      const int w = mma_qk_word_of_step(kk, elements_per_chunk);
      const uint32_t low = stage_word(k_stage, warp_row + group, chunk * 16 + 4 * w);
      const uint32_t high = stage_word(k_stage, warp_row + group + 8, chunk * 16 + 4 * w);
      if (E == 1) {
        a[lane] = {pair_of(low), pair_of(high), pair_of(low >> 16), pair_of(high >> 16)};
      } else {
        a[lane] = {pair_of(low), pair_of(high), pair_of(stage_word(k_stage, warp_row + group, chunk * 16 + 4 * w + 4)),
                   pair_of(stage_word(k_stage, warp_row + group + 8, chunk * 16 + 4 * w + 4))};
      }
      for (int r = 0; r < 2; ++r) {
        for (int e = 0; e < 2; ++e) {
          b[lane][r][e] = query[group][mma_qk_dim(quad, kk, 2 * r + e, elements_per_chunk)];
        }
      }
    }
    const auto d = emulate_mma(a, b);
    for (int lane = 0; lane < 32; ++lane) {
      for (int i = 0; i < 4; ++i) score[lane][i] += d[lane][i];
    }
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int group = lane / 4, quad = lane % 4;
    for (int i = 0; i < 4; ++i) {
      // score[i]: key group (+8 for i >= 2), query column 2 quad + (i & 1), as the kernel reads it.
      const int key = group + 8 * (i / 2), column = 2 * quad + (i & 1);
      double expected = 0;
      for (int dim = 0; dim < D; ++dim) expected += element(k_rows, warp_row + key, dim) * query[column][dim];
      ASSERT_EQ(score[lane][i], expected) << "lane " << lane << " score " << i;
    }
  }

  // P.V: probabilities (multiples of 1/16) written from the score layout into the slots, read
  // back as P^T's B fragment; V through the lane's runs and the byte permutes.
  double probability[kMmaColumns][kMmaWarpKeys];
  for (auto& row : probability) {
    for (double& p : row) p = std::uniform_int_distribution<int>(0, 16)(rng) / 16.0;
  }
  double slots[kMmaColumns][kMmaWarpKeys];
  for (auto& row : slots) {
    for (double& s : row) s = NAN;
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int group = lane / 4, quad = lane % 4;
    for (int c = 0; c < 2; ++c) {
      slots[2 * quad + c][mma_probability_slot(group)] = probability[2 * quad + c][group];
      slots[2 * quad + c][mma_probability_slot(group + 8)] = probability[2 * quad + c][group + 8];
    }
  }
  std::vector<std::array<Pair, 2>> p_fragment(32);
  for (int lane = 0; lane < 32; ++lane) {
    const int group = lane / 4, quad = lane % 4;
    p_fragment[lane] = {Pair{slots[group][4 * quad], slots[group][4 * quad + 1]},
                        Pair{slots[group][4 * quad + 2], slots[group][4 * quad + 3]}};
  }
  const int run = std::min(elements_per_chunk, D / 8), runs = D / 8 / run, value_words = D / 8 * E / 4;
  std::vector<std::vector<double>> output(kMmaColumns, std::vector<double>(D, NAN));
  for (int i = 0; i < D / 16; ++i) {
    std::vector<std::array<Pair, 4>> a(32);
    for (int lane = 0; lane < 32; ++lane) {
      const int group = lane / 4, quad = lane % 4;
      std::vector<std::vector<uint32_t>> words(4, std::vector<uint32_t>(value_words));
      for (int j = 0; j < 4; ++j) {
        for (int r = 0; r < runs; ++r) {
          const int byte = mma_pv_dim(group, r * run, D, elements_per_chunk) * E;
          for (int w = 0; w < run * E / 4; ++w) {
            words[j][r * run * E / 4 + w] = stage_word(v_stage, warp_row + mma_pv_key(quad, j), byte + 4 * w);
          }
        }
      }
      if (E == 1) {
        const int w = mma_pv_fp8_word(i);
        const uint32_t keys01 = byte_perm(words[0][w], words[1][w], mma_pv_fp8_selector(i));
        const uint32_t keys23 = byte_perm(words[2][w], words[3][w], mma_pv_fp8_selector(i));
        a[lane] = {pair_of(keys01), pair_of(keys01 >> 16), pair_of(keys23), pair_of(keys23 >> 16)};
      } else {
        a[lane] = {pair_of(byte_perm(words[0][i], words[1][i], kMmaLowHalves)),
                   pair_of(byte_perm(words[0][i], words[1][i], kMmaHighHalves)),
                   pair_of(byte_perm(words[2][i], words[3][i], kMmaLowHalves)),
                   pair_of(byte_perm(words[2][i], words[3][i], kMmaHighHalves))};
      }
    }
    const auto d = emulate_mma(a, p_fragment);
    for (int lane = 0; lane < 32; ++lane) {
      const int group = lane / 4, quad = lane % 4;
      for (int c = 0; c < 2; ++c) {
        // As the kernel's merge stores acc[i][c] and acc[i][c + 2].
        for (int upper = 0; upper < 2; ++upper) {
          double& target = output[2 * quad + c][mma_pv_dim(group, 2 * i + upper, D, elements_per_chunk)];
          ASSERT_TRUE(std::isnan(target)) << "written twice: m-tile " << i << " lane " << lane;
          target = d[lane][c + 2 * upper];
        }
      }
    }
  }
  for (int column = 0; column < kMmaColumns; ++column) {
    for (int dim = 0; dim < D; ++dim) {
      double expected = 0;
      for (int key = 0; key < kMmaWarpKeys; ++key) {
        expected += probability[column][key] * element(v_rows, warp_row + key, dim);
      }
      ASSERT_EQ(output[column][dim], expected) << "column " << column << " dim " << dim;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Caches, DecodeAttentionMmaLayout,
                         ::testing::Values(Config{1, 128, 4}, Config{1, 64, 8}, Config{2, 128, 4}, Config{2, 64, 1},
                                           Config{1, 128, 8}, Config{2, 128, 8}),
                         [](const ::testing::TestParamInfo<Config>& info) {
                           return std::string(info.param.element_bytes == 1 ? "fp8" : "bf16") + "_hd" +
                                  std::to_string(info.param.head_dim) + "_group" +
                                  std::to_string(info.param.group);
                         });

// Every row's chunks are a permutation of its chunk positions (no two chunks share a place).
TEST(DecodeAttentionMmaLayoutSwizzle, IsAPermutationOfEachRow) {
  for (int chunks : {4, 8, 16}) {
    for (int row = 0; row < kMmaTileKeys; ++row) {
      std::vector<bool> used(chunks, false);
      for (int chunk = 0; chunk < chunks; ++chunk) {
        const int place = mma_swizzled_chunk(row, chunk, chunks);
        ASSERT_TRUE(place >= 0 && place < chunks && !used[place]) << chunks << " chunks, row " << row;
        used[place] = true;
      }
    }
  }
}

// The kernel's shared-memory reads take one pass each: a 16-byte load is served a quarter warp
// (8 consecutive lanes) at a time and an 8-byte load a half warp at a time, and within such a
// phase no two lanes may touch different addresses in the same 4-byte bank.
TEST(DecodeAttentionMmaLayoutSwizzle, TileReadsAreFreeOfBankConflicts) {
  const auto conflict_free = [](const std::vector<int>& addresses, int bytes) {
    const int lanes_per_phase = bytes == 16 ? 8 : 16;
    for (int phase = 0; phase < 32 / lanes_per_phase; ++phase) {
      std::vector<int> owner(32, -1);
      for (int lane = phase * lanes_per_phase; lane < (phase + 1) * lanes_per_phase; ++lane) {
        for (int word = 0; word < bytes / 4; ++word) {
          const int address = addresses[lane] + 4 * word, bank = address / 4 % 32;
          if (owner[bank] >= 0 && owner[bank] != address) return false;
          owner[bank] = address;
        }
      }
    }
    return true;
  };
  for (const auto& [element_bytes, head_dim] :
       {std::pair{1, 64}, std::pair{1, 128}, std::pair{2, 64}, std::pair{2, 128}}) {
    SCOPED_TRACE(std::to_string(element_bytes) + "-byte elements, head_dim " + std::to_string(head_dim));
    const int row_bytes = head_dim * element_bytes, chunks_per_row = row_bytes / 16;
    const int elements_per_chunk = 16 / element_bytes;
    const auto address = [&](int row, int byte) {
      return row * row_bytes + mma_swizzled_chunk(row, byte / 16, chunks_per_row) * 16 + byte % 16;
    };
    for (int warp = 0; warp < kMmaWarps; ++warp) {
      const int warp_row = warp * kMmaWarpKeys;
      // Q K^T: chunk quad + 4j of rows group and group + 8.
      for (int j = 0; j < chunks_per_row / 4; ++j) {
        for (int upper = 0; upper < 2; ++upper) {
          std::vector<int> addresses(32);
          for (int lane = 0; lane < 32; ++lane) {
            addresses[lane] = address(warp_row + lane / 4 + 8 * upper, (lane % 4 + 4 * j) * 16);
          }
          EXPECT_TRUE(conflict_free(addresses, 16)) << "K, warp " << warp << ", chunk " << j << ", upper " << upper;
        }
      }
      // P.V: run r of key mma_pv_key(quad, j).
      const int run = std::min(elements_per_chunk, head_dim / 8), run_bytes = run * element_bytes;
      for (int j = 0; j < 4; ++j) {
        for (int r = 0; r < head_dim / 8 / run; ++r) {
          std::vector<int> addresses(32);
          for (int lane = 0; lane < 32; ++lane) {
            addresses[lane] = address(warp_row + mma_pv_key(lane % 4, j),
                                      mma_pv_dim(lane / 4, r * run, head_dim, elements_per_chunk) * element_bytes);
          }
          EXPECT_TRUE(conflict_free(addresses, run_bytes)) << "V, warp " << warp << ", key " << j << ", run " << r;
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cuda
