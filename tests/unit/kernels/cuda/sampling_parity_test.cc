// Parity of the CUDA sampling kernel with its CPU twin (kernels/sampling.h): the same bf16
// logits, settings, adjustments and speculative drafts to both. Greedy tokens, ranks and top ids must be equal; the
// draws may differ only where f32 expf rounding moves a cut-off or the draw across a boundary,
// which happens for a handful of rows in thousands.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "cuda_test_util.h"
#include "kernels/cuda/sampling_cuda.h"
#include "kernels/sampling.h"

namespace kiln::cuda {
namespace {

using testing::upload;
using testing::upload_raw;

struct Case {
  int vocab;
  int num_rows;
  float logit_scale;
};

class SamplingParity : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

TEST_P(SamplingParity, MatchesTheCpuTwin) {
  const Case c = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(c.vocab * 31 + c.num_rows));
  // Normal logits (peaked like a language model's), stored as bf16.
  std::normal_distribution<float> normal(0.0f, c.logit_scale);
  std::vector<uint16_t> logits_bf16(static_cast<size_t>(c.num_rows) * c.vocab);
  std::vector<float> logits(logits_bf16.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    logits_bf16[i] = f32_to_bf16(normal(rng));
    logits[i] = bf16_to_f32(logits_bf16[i]);
  }
  std::vector<SamplingRowParams> rows(static_cast<size_t>(c.num_rows));
  std::vector<LogitAdjustment> adjustments;
  std::uniform_int_distribution<int> token(0, c.vocab - 1);
  for (int r = 0; r < c.num_rows; ++r) {
    SamplingRowParams& p = rows[static_cast<size_t>(r)];
    p.logits_row = r;
    p.greedy = r % 5 == 0;
    p.temperature = 0.3f + 0.2f * static_cast<float>(r % 7);
    p.top_k = r % 3 == 0 ? 1 + r % 50 : 0;
    p.top_p = r % 4 == 1 ? 0.5f + 0.05f * static_cast<float>(r % 10) : 1.0f;
    p.min_p = r % 6 == 2 ? 0.05f : 0.0f;
    p.seed = 1234 + static_cast<uint64_t>(r);
    p.counter = static_cast<uint64_t>(r * 3);
    p.num_top_logprobs = r % 4 == 0 ? r % 21 : -1;
    p.adjustments_begin = static_cast<int32_t>(adjustments.size());
    if (r % 2 == 0) {
      for (int j = 0; j < 1 + r % 40; ++j) {
        LogitAdjustment a;
        a.token_id = (token(rng) + j) % c.vocab;  // distinct within the row up to collisions
        bool duplicate = false;
        for (size_t k = static_cast<size_t>(p.adjustments_begin); k < adjustments.size(); ++k) {
          duplicate |= adjustments[k].token_id == a.token_id;
        }
        if (duplicate) continue;
        a.blocked = j % 9 == 0;
        a.bias = j % 3 == 0 ? 2.0f : 0.0f;
        a.repetition_penalty = j % 2 ? 1.3f : 1.0f;
        a.subtract = j % 4 == 0 ? 0.7f : 0.0f;
        adjustments.push_back(a);
      }
    }
    p.num_adjustments = static_cast<int32_t>(adjustments.size()) - p.adjustments_begin;
    // Speculative verification: drafts of the row's argmax (mostly accepted) and of random
    // tokens (mostly rejected, so the recovered draw runs).
    if (r % 3 == 1) {
      const float* row = logits.data() + static_cast<size_t>(r) * c.vocab;
      p.draft_token_id = r % 2 ? static_cast<int32_t>(std::max_element(row, row + c.vocab) - row) : token(rng);
    }
  }

  std::vector<SampledRow> expected(rows.size());
  cpu::sample_rows(logits.data(), c.vocab, rows, adjustments, expected.data());

  DeviceBuffer device_logits = upload(logits_bf16);
  DeviceBuffer device_rows = upload_raw(rows);
  DeviceBuffer device_adjustments = upload_raw(adjustments);
  DeviceBuffer workspace = std::move(DeviceBuffer::try_allocate(sampling_workspace_bytes(c.num_rows, c.vocab)).value());
  DeviceBuffer device_out = std::move(DeviceBuffer::try_allocate(rows.size() * sizeof(SampledRow)).value());
  sample_rows(device_logits.as<__nv_bfloat16>(), c.vocab, 0, device_rows.as<SamplingRowParams>(), c.num_rows,
              device_adjustments.as<LogitAdjustment>(), workspace.as<float>(), device_out.as<SampledRow>(), nullptr);
  KILN_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<SampledRow> actual(rows.size());
  KILN_CUDA_CHECK(cudaMemcpy(actual.data(), device_out.data(), actual.size() * sizeof(SampledRow), cudaMemcpyDeviceToHost));

  int draws = 0, draw_mismatches = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    if (rows[r].greedy) {
      EXPECT_EQ(actual[r].token_id, expected[r].token_id);
    } else {
      ++draws;
      draw_mismatches += actual[r].token_id != expected[r].token_id;
    }
    if (rows[r].num_top_logprobs < 0 || actual[r].token_id != expected[r].token_id) continue;
    EXPECT_NEAR(actual[r].logprob, expected[r].logprob, 1e-4);
    EXPECT_EQ(actual[r].rank, expected[r].rank);
    ASSERT_EQ(actual[r].num_top, expected[r].num_top);
    for (int k = 0; k < expected[r].num_top; ++k) {
      EXPECT_EQ(actual[r].top_ids[k], expected[r].top_ids[k]) << "top " << k;
      EXPECT_NEAR(actual[r].top_logprobs[k], expected[r].top_logprobs[k], 1e-4) << "top " << k;
    }
  }
  EXPECT_LE(draw_mismatches, std::max(1, draws / 100)) << draw_mismatches << " of " << draws << " draws differ";
}

// Token bitmasks (structured outputs): masked rows never yield a masked token on either twin,
// greedy rows agree, and rows whose mask allows nothing yield kNoAllowedToken on both.
TEST_P(SamplingParity, BitmasksMatchTheCpuTwin) {
  const Case c = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(c.vocab * 17 + c.num_rows));
  std::normal_distribution<float> normal(0.0f, c.logit_scale);
  std::vector<uint16_t> logits_bf16(static_cast<size_t>(c.num_rows) * c.vocab);
  std::vector<float> logits(logits_bf16.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    logits_bf16[i] = f32_to_bf16(normal(rng));
    logits[i] = bf16_to_f32(logits_bf16[i]);
  }
  const size_t words = static_cast<size_t>(sampling_bitmask_words(c.vocab));
  std::vector<uint32_t> masks(static_cast<size_t>(c.num_rows) * words, 0);
  std::vector<SamplingRowParams> rows(static_cast<size_t>(c.num_rows));
  for (int r = 0; r < c.num_rows; ++r) {
    SamplingRowParams& p = rows[static_cast<size_t>(r)];
    p.logits_row = r;
    p.greedy = r % 3 == 0;
    p.temperature = 0.7f;
    p.top_p = r % 2 ? 0.9f : 1.0f;
    p.seed = 99 + static_cast<uint64_t>(r);
    p.counter = static_cast<uint64_t>(r);
    p.num_top_logprobs = r % 4 == 0 ? 3 : -1;
    p.bitmask_row = r % 7 == 6 ? -1 : r;  // some rows unmasked
    uint32_t* mask = masks.data() + static_cast<size_t>(r) * words;
    const int every = r % 5 == 4 ? 0 : 1 + static_cast<int>(rng() % 40);  // 0: nothing allowed
    for (int i = 0; every && i < c.vocab; ++i) {
      if (rng() % static_cast<uint32_t>(every) == 0) mask[i / 32] |= 1u << (i % 32);
    }
  }
  std::vector<SampledRow> expected(rows.size());
  cpu::sample_rows(logits.data(), c.vocab, rows, {}, expected.data(), masks.data());

  DeviceBuffer device_logits = upload(logits_bf16);
  DeviceBuffer device_rows = upload_raw(rows);
  DeviceBuffer device_masks = upload_raw(masks);
  DeviceBuffer workspace = std::move(DeviceBuffer::try_allocate(sampling_workspace_bytes(c.num_rows, c.vocab)).value());
  DeviceBuffer device_out = std::move(DeviceBuffer::try_allocate(rows.size() * sizeof(SampledRow)).value());
  sample_rows(device_logits.as<__nv_bfloat16>(), c.vocab, 0, device_rows.as<SamplingRowParams>(), c.num_rows, nullptr,
              workspace.as<float>(), device_out.as<SampledRow>(), nullptr, device_masks.as<uint32_t>());
  KILN_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<SampledRow> actual(rows.size());
  KILN_CUDA_CHECK(cudaMemcpy(actual.data(), device_out.data(), actual.size() * sizeof(SampledRow), cudaMemcpyDeviceToHost));
  for (size_t r = 0; r < rows.size(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    const SamplingRowParams& p = rows[r];
    const int32_t token = actual[r].token_id;
    if (p.bitmask_row >= 0) {
      const uint32_t* mask = masks.data() + static_cast<size_t>(p.bitmask_row) * words;
      bool any = false;
      for (size_t w = 0; w < words; ++w) any = any || mask[w] != 0;
      if (!any) {
        EXPECT_EQ(token, kNoAllowedToken);
        EXPECT_EQ(expected[r].token_id, kNoAllowedToken);
        continue;
      }
      ASSERT_GE(token, 0);
      EXPECT_TRUE((mask[token / 32] >> (token % 32)) & 1u) << "masked token " << token;
    }
    if (p.greedy) {
      EXPECT_EQ(token, expected[r].token_id);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SamplingParity,
                         ::testing::Values(Case{1000, 300, 2.0f}, Case{128256, 64, 3.0f}, Case{32000, 256, 1.0f},
                                           Case{7, 50, 1.0f}));

}  // namespace
}  // namespace kiln::cuda
