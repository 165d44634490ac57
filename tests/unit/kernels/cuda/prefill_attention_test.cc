// Parity of the tensor-core prefill attention (and paged_attention's dispatch between it and the
// split-KV decode kernel) with cpu::paged_attention: causal prefill, chunked prefill over cached
// prefixes, GQA groups 1 to 12, head_dim 64 and 128, block sizes 16, 24 and 32, decode tokens
// mixed into the batch, q read in place from a wider fused QKV row, and speculative draft trees
// (each node sees the cached prefix and its own ancestors).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

#include "cuda_test_util.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/ops.h"

namespace kiln::cuda {
namespace {

using testing::download_bf16;
using testing::poisoned_bf16;
using testing::random_bf16;
using testing::relative_error;
using testing::upload;
using testing::upload_raw;
using testing::widen;

struct PrefillCase {
  std::string name;
  AttentionShape shape;
  int block_size = 16;
  std::vector<int> new_tokens;  // per sequence
  std::vector<int> seq_lens;    // per sequence, cached prefix included
  bool fused_qkv_stride = false;  // q rows (num_heads + 2 * num_kv_heads) * head_dim apart
  // Per sequence: the draft tree's parents of its new tokens (-1 first), or empty for a chain.
  std::vector<std::vector<int32_t>> trees = {};
};

class PrefillAttention : public ::testing::Test {
 protected:
  void SetUp() override {
    KILN_SKIP_WITHOUT_GPU();
    auto context = CudaContext::create(0);
    ASSERT_TRUE(context.ok()) << context.message();
    context_ = std::move(context).value();
  }

  enum class Path { kDispatch, kDispatchUnknownQueryLen, kPrefillOnly };

  // Runs `c` through `path` and compares with the CPU twin: every token for the dispatch paths;
  // for kPrefillOnly the multi-token sequences' tokens, and the decode tokens must stay poisoned.
  void check(const PrefillCase& c, Path path, PrefillTiling tiling = PrefillTiling::kDefault) {
    SCOPED_TRACE(c.name);
    const AttentionShape& shape = c.shape;
    const int block_size = c.block_size, num_seqs = static_cast<int>(c.seq_lens.size());
    int max_blocks = 0, max_seq_len = 0, max_query_len = 0;
    for (int s = 0; s < num_seqs; ++s) {
      ASSERT_LE(c.new_tokens[s], c.seq_lens[s]);
      max_blocks = std::max(max_blocks, (c.seq_lens[s] + block_size - 1) / block_size);
      max_seq_len = std::max(max_seq_len, c.seq_lens[s]);
      max_query_len = std::max(max_query_len, c.new_tokens[s]);
    }
    // Scattered, non-contiguous blocks: a shuffled permutation of the pool.
    const int num_blocks = max_blocks * num_seqs + 3;
    std::vector<int32_t> pool_order(num_blocks);
    std::iota(pool_order.begin(), pool_order.end(), 0);
    std::shuffle(pool_order.begin(), pool_order.end(), rng_);
    std::vector<int32_t> block_tables(static_cast<size_t>(num_seqs) * max_blocks, -1);
    std::vector<int32_t> query_start = {0};
    std::vector<bool> decode_token;
    int next = 0;
    for (int s = 0; s < num_seqs; ++s) {
      for (int b = 0; b < (c.seq_lens[s] + block_size - 1) / block_size; ++b) {
        block_tables[static_cast<size_t>(s) * max_blocks + b] = pool_order[next++];
      }
      query_start.push_back(query_start.back() + c.new_tokens[s]);
      for (int t = 0; t < c.new_tokens[s]; ++t) decode_token.push_back(c.new_tokens[s] == 1);
    }
    const int num_tokens = query_start.back();
    const int hd = shape.head_dim;
    const size_t cache_size = static_cast<size_t>(num_blocks) * block_size * shape.num_kv_heads * hd;
    const int q_row = shape.num_heads * hd;
    const int q_stride = c.fused_qkv_stride ? (shape.num_heads + 2 * shape.num_kv_heads) * hd : q_row;
    const size_t q_size = static_cast<size_t>(num_tokens) * q_row;
    const auto k_cache = random_bf16(cache_size, rng_, 2.0f), v_cache = random_bf16(cache_size, rng_);
    const auto q_wide = random_bf16(static_cast<size_t>(num_tokens) * q_stride, rng_, 2.0f);
    std::vector<uint16_t> q(q_size);
    for (int t = 0; t < num_tokens; ++t) {
      std::copy_n(q_wide.begin() + static_cast<size_t>(t) * q_stride, q_row, q.begin() + static_cast<size_t>(t) * q_row);
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

    DeviceBuffer q_dev = upload(q_wide), k_dev = upload(k_cache), v_dev = upload(v_cache);
    DeviceBuffer qs_dev = upload_raw(query_start), lens_dev = upload_raw(c.seq_lens),
                 tables_dev = upload_raw(block_tables);
    DeviceBuffer out_dev = poisoned_bf16(q_size);
    // Draft trees: every token's parent within its sequence's new tokens (chains where not given).
    std::vector<int32_t> tree_parents;
    if (!c.trees.empty()) {
      for (int s = 0; s < num_seqs; ++s) {
        for (int t = 0; t < c.new_tokens[s]; ++t) {
          tree_parents.push_back(c.trees[static_cast<size_t>(s)].empty() ? t - 1 : c.trees[static_cast<size_t>(s)][static_cast<size_t>(t)]);
        }
      }
    }
    DeviceBuffer tree_dev = upload_raw(tree_parents);
    const int num_sms = context_->info().num_sms;
    DeviceBuffer workspace =
        std::move(DeviceBuffer::try_allocate(paged_attention_workspace_bytes(num_sms, shape)).value());
    PagedAttentionMetadata device_meta{qs_dev.as<int32_t>(), lens_dev.as<int32_t>(),
                                       tables_dev.as<int32_t>(), num_seqs, max_blocks, block_size};
    device_meta.num_tokens = num_tokens;
    device_meta.max_seq_len = max_seq_len;
    device_meta.max_query_len = path == Path::kDispatchUnknownQueryLen ? 0 : max_query_len;
    device_meta.tree_parents = tree_parents.empty() ? nullptr : tree_dev.as<int32_t>();
    if (path == Path::kPrefillOnly) {
      prefill_attention(q_dev.as<bf16>(), k_dev.as<bf16>(), v_dev.as<bf16>(), device_meta, shape, scale,
                        out_dev.as<bf16>(), stream(), q_stride, tiling);
    } else {
      paged_attention(q_dev.as<bf16>(), k_dev.as<bf16>(), v_dev.as<bf16>(), device_meta, shape, scale,
                      out_dev.as<bf16>(), workspace.data(), num_sms, stream(), q_stride);
    }
    context_->synchronize();

    PagedAttentionMetadata host_meta{query_start.data(), c.seq_lens.data(), block_tables.data(),
                                     num_seqs, max_blocks, block_size};
    host_meta.num_tokens = num_tokens;
    host_meta.max_seq_len = max_seq_len;
    host_meta.tree_parents = tree_parents.empty() ? nullptr : tree_parents.data();
    std::vector<float> expected(q_size);
    cpu::ThreadPool pool(2);
    cpu::paged_attention(cpu::CpuContext{&pool, cpu::detect_isa()}, widen(q).data(), widen(k_cache).data(),
                         widen(v_cache).data(), host_meta, shape, scale, expected.data());
    const std::vector<float> out = download_bf16(out_dev, q_size);
    const auto token_of = [&](size_t i) { return static_cast<size_t>(i / q_row); };
    if (path == Path::kPrefillOnly) {
      EXPECT_LT(relative_error(out, expected, [&](size_t i) { return !decode_token[token_of(i)]; }), 1e-2);
      size_t written_decode = 0;
      for (size_t i = 0; i < q_size; ++i) written_decode += decode_token[token_of(i)] && !std::isnan(out[i]);
      EXPECT_EQ(written_decode, 0u) << "prefill_attention wrote a decode token's output";
    } else {
      EXPECT_LT(relative_error(out, expected), 1e-2);
      // Decode tokens alone too: a small share of the batch, hidden in the whole's error.
      if (std::count(decode_token.begin(), decode_token.end(), true) > 0) {
        EXPECT_LT(relative_error(out, expected, [&](size_t i) { return decode_token[token_of(i)]; }), 1e-2);
      }
    }
  }

  cudaStream_t stream() { return context_->stream(); }

  std::unique_ptr<CudaContext> context_;
  std::mt19937 rng_{7};
};

const AttentionShape kLlama8b{32, 8, 128};

TEST_F(PrefillAttention, PrefillAloneGqa4Head128) {
  check({"single_prompt_300", kLlama8b, 16, {300}, {300}}, Path::kDispatch);
  check({"single_prompt_2", kLlama8b, 16, {2}, {2}}, Path::kDispatch);
}

TEST_F(PrefillAttention, PrefillChunkedOverPrefixMixedWithDecode) {
  check({"gqa4_bs16_mixed", kLlama8b, 16, {300, 1, 77, 1, 130}, {300, 513, 200, 1, 194}}, Path::kDispatch);
  check({"gqa4_bs32_fused_stride", kLlama8b, 32, {65, 1, 129, 2}, {1000, 70, 129, 33}, true},
        Path::kDispatch);
}

TEST_F(PrefillAttention, PrefillGroupsAndHeadDims) {
  check({"gqa8_hd128_bs32", {32, 4, 128}, 32, {128, 3, 1}, {1000, 3, 40}}, Path::kDispatch);
  check({"mha_hd128_bs16", {4, 4, 128}, 16, {200, 45, 1}, {260, 45, 300}}, Path::kDispatch);
  check({"mha_hd64_bs16", {8, 8, 64}, 16, {300, 2, 17}, {350, 2, 17}}, Path::kDispatch);
  check({"gqa4_hd64_bs32", {16, 4, 64}, 32, {65, 1, 250}, {65, 999, 260}}, Path::kDispatch);
  check({"gqa8_hd64_bs16", {16, 2, 64}, 16, {100, 33}, {140, 33}}, Path::kDispatch);
  check({"qwen_group6_bs24", {12, 2, 128}, 24, {90, 1, 7}, {500, 30, 7}}, Path::kDispatch);
  check({"group12_mqa", {12, 1, 128}, 16, {40, 1}, {77, 33}}, Path::kDispatch);
}

TEST_F(PrefillAttention, PrefillUnknownQueryLenDispatchesBoth) {
  check({"unknown_mixed", kLlama8b, 16, {1, 150, 1}, {700, 180, 2}}, Path::kDispatchUnknownQueryLen);
  check({"unknown_all_decode", kLlama8b, 16, {1, 1}, {700, 5}}, Path::kDispatchUnknownQueryLen);
}

TEST_F(PrefillAttention, PrefillEveryTilingSkipsDecodeTokens) {
  for (const PrefillTiling tiling : {PrefillTiling::kWarps4Rows64Keys64, PrefillTiling::kWarps4Rows128Keys32,
                                     PrefillTiling::kWarps4Rows128Keys64, PrefillTiling::kWarps8Rows128Keys64,
                                     PrefillTiling::kWarps4Rows128Keys32QRegs}) {
    SCOPED_TRACE(static_cast<int>(tiling));
    check({"tiling", kLlama8b, 16, {1, 250, 33, 1}, {90, 400, 33, 7}}, Path::kPrefillOnly, tiling);
    check({"tiling_mha", {4, 4, 128}, 32, {170, 1}, {300, 64}}, Path::kPrefillOnly, tiling);
  }
}

// Random batches: 1..300 new tokens over 0..400 cached ones, decodes mixed in.
TEST_F(PrefillAttention, PrefillRandomBatches) {
  const AttentionShape shapes[] = {kLlama8b, {32, 4, 128}, {8, 8, 64}, {16, 4, 64}};
  for (int trial = 0; trial < 4; ++trial) {
    PrefillCase c{"random_" + std::to_string(trial), shapes[trial], trial % 2 ? 32 : 16, {}, {}};
    std::uniform_int_distribution<int> new_dist(1, 300), prefix_dist(0, 400), kind(0, 2);
    for (int s = 0; s < 5; ++s) {
      const int num_new = kind(rng_) == 0 ? 1 : new_dist(rng_);
      c.new_tokens.push_back(num_new);
      c.seq_lens.push_back(num_new + prefix_dist(rng_));
    }
    check(c, Path::kDispatch);
  }
}

// Draft trees (KILN_CUDA_SPEC_TREES): a tree of 9 nodes after its root over a long cached prefix,
// one of 65 (the largest a step drafts) whose last nodes sit in the second mask word, beside a
// decode and a 200-token prompt chunk given as a chain (rows past the mask's 128 stay causal).
TEST_F(PrefillAttention, DraftTreesMaskEachNodeToItsPath) {
  const std::vector<int32_t> small = {-1, 0, 0, 1, 1, 2, 3, 3, 5, 8};
  std::vector<int32_t> large = {-1};
  for (int t = 1; t < 66; ++t) large.push_back(t < 3 ? 0 : t - 1 - (t % 3 == 0 ? 1 : 0));  // branches every third node
  check({"tree_gqa4_hd128", kLlama8b, 16, {10, 1, 200, 66}, {310, 40, 260, 140}, false, {small, {}, {}, large}},
        Path::kDispatch);
  check({"tree_hd64_fused", {16, 4, 64}, 32, {66, 10}, {100, 10}, true, {large, small}}, Path::kDispatch);
}

TEST(PrefillAttentionSupport, ShapesOutsideTheKernelGoToTheSplitKvKernel) {
  EXPECT_TRUE(prefill_attention_supports({32, 8, 128}));
  EXPECT_TRUE(prefill_attention_supports({8, 8, 64}));
  EXPECT_FALSE(prefill_attention_supports({32, 8, 96}));
  EXPECT_FALSE(prefill_attention_supports({128, 1, 64}));  // group 128 > 64 rows per block
  EXPECT_FALSE(prefill_attention_supports({128, 1, 128}, PrefillTiling::kWarps4Rows64Keys64));
  EXPECT_TRUE(prefill_attention_supports({128, 1, 128}, PrefillTiling::kWarps8Rows128Keys64));
  EXPECT_FALSE(prefill_attention_supports({30, 8, 128}));  // 8 does not divide 30
}

}  // namespace
}  // namespace kiln::cuda
