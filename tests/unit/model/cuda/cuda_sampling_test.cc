// CudaModel::forward_sampled: rows sampled on the device agree with forward()'s host logits,
// the rows that do not sample come back whole, and decode steps replayed from CUDA graphs
// (padded to their batch bucket) follow the same path as eager steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda_test_setup.h"
#include "cuda_test_util.h"
#include "model/cuda/cuda_model.h"
#include "test_model.h"

namespace kiln::cuda {
namespace {

using kiln::testing::make_batch;
using kiln::testing::make_test_model;
using kiln::testing::SeqStep;
using kiln::testing::small_bf16_llama;

constexpr int kBlockSize = 16;

std::unique_ptr<CudaModel> make_cuda_model(const kiln::testing::TestModel& model, bool enforce_eager) {
  CudaModelOptions options;
  options.max_num_batched_tokens = 256;
  options.max_num_seqs = 8;
  options.max_model_len = 512;
  options.num_blocks = 128;
  options.enforce_eager = enforce_eager;
  auto created = CudaModel::create(model.config, model.weights, options);
  EXPECT_TRUE(created.ok()) << created.message();
  return created.ok() ? std::move(created).value() : nullptr;
}

SamplingRowParams greedy_row(int logits_row, int num_top) {
  SamplingRowParams row;
  row.logits_row = logits_row;
  row.num_top_logprobs = num_top;
  return row;
}

class CudaSamplingTest : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

TEST_F(CudaSamplingTest, SampledRowsAndOtherLogitsMatchForward) {
  auto model = make_test_model(small_bf16_llama(11));
  auto host = make_cuda_model(*model, true);
  auto device = make_cuda_model(*model, true);
  ASSERT_TRUE(host && device);
  std::vector<int32_t> a, b;
  for (int i = 0; i < 40; ++i) a.push_back((i * 37 + 5) % 1000);
  for (int i = 0; i < 9; ++i) b.push_back((i * 91 + 2) % 1000);
  // Sequence a asks for every prompt row (prompt logprobs) and samples its last; b only samples.
  const ForwardBatch batch = make_batch({{a, 40, {0, 1, 2}, true}, {b, 9, {3}, false}}, kBlockSize);
  std::vector<float> logits;
  ASSERT_TRUE(host->forward(batch, &logits).ok());
  const int vocab = model->config.vocab_size;
  const int num_logits = static_cast<int>(batch.logits_indices.size());
  ASSERT_EQ(num_logits, 41);

  const std::vector<SamplingRowParams> rows = {greedy_row(39, 3), greedy_row(40, -1)};
  std::vector<float> other;
  std::vector<SampledRow> sampled;
  ASSERT_TRUE(device->forward_sampled(batch, rows, {}, &other, &sampled).ok());
  ASSERT_EQ(sampled.size(), 2u);
  ASSERT_EQ(other.size(), static_cast<size_t>(39) * vocab);
  EXPECT_TRUE(std::equal(other.begin(), other.end(), logits.begin()));  // rows 0..38, same kernels
  for (size_t r = 0; r < rows.size(); ++r) {
    const float* row = logits.data() + static_cast<size_t>(rows[r].logits_row) * vocab;
    EXPECT_EQ(sampled[r].token_id, std::max_element(row, row + vocab) - row) << "row " << r;
  }
  EXPECT_EQ(sampled[0].rank, 1);
  EXPECT_EQ(sampled[0].num_top, 3);
  EXPECT_EQ(sampled[0].top_ids[0], sampled[0].token_id);
  EXPECT_EQ(device->num_graph_steps(), 0);

  // A bad row is refused before anything runs.
  const std::vector<SamplingRowParams> unordered = {greedy_row(40, -1), greedy_row(39, -1)};
  EXPECT_FALSE(device->forward_sampled(batch, unordered, {}, &other, &sampled).ok());
  const std::vector<SamplingRowParams> outside = {greedy_row(41, -1)};
  EXPECT_FALSE(device->forward_sampled(batch, outside, {}, &other, &sampled).ok());
}

TEST_F(CudaSamplingTest, GraphDecodeStepsFollowEagerSteps) {
  auto model = make_test_model(small_bf16_llama(11));
  auto eager = make_cuda_model(*model, true);
  auto graphed = make_cuda_model(*model, false);
  ASSERT_TRUE(eager && graphed);
  struct Seq {
    std::vector<int32_t> tokens;
    std::vector<int32_t> blocks;
  };
  std::vector<Seq> seqs(3);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 20 + 15 * s; ++i) seqs[s].tokens.push_back((i * 53 + s * 17 + 1) % 1000);
    for (int j = 0; j < 6; ++j) seqs[s].blocks.push_back(s * 6 + j);
  }
  std::vector<SeqStep> prefill;
  for (const Seq& s : seqs) prefill.push_back({s.tokens, static_cast<int>(s.tokens.size()), s.blocks, false});
  std::vector<float> unused;
  ASSERT_TRUE(eager->forward(make_batch(prefill, kBlockSize), &unused).ok());
  ASSERT_TRUE(graphed->forward(make_batch(prefill, kBlockSize), &unused).ok());

  // Greedy tokens of the last rows from the previous step seed the next; steps alternate between
  // all three sequences (bucket 4, one padded row) and the first two (bucket 2).
  std::vector<int32_t> next = {1, 2, 3};
  int compared = 0, clear_margin = 0;
  for (int step = 0; step < 12; ++step) {
    const int active = step % 2 ? 2 : 3;
    std::vector<SeqStep> decode;
    std::vector<SamplingRowParams> rows;
    for (int s = 0; s < active; ++s) {
      seqs[s].tokens.push_back(next[s]);
      decode.push_back({seqs[s].tokens, 1, seqs[s].blocks, false});
      rows.push_back(greedy_row(s, 2));
    }
    const ForwardBatch batch = make_batch(decode, kBlockSize);
    std::vector<float> other;
    std::vector<SampledRow> want, got;
    ASSERT_TRUE(eager->forward_sampled(batch, rows, {}, &other, &want).ok());
    ASSERT_TRUE(graphed->forward_sampled(batch, rows, {}, &other, &got).ok());
    ASSERT_EQ(got.size(), rows.size());
    for (int s = 0; s < active; ++s) {
      ++compared;
      // The graph may split attention differently (it is sized for its stride bucket): logprobs
      // agree to bf16 rounding and the token wherever the top two are not a near tie.
      EXPECT_NEAR(got[s].logprob, want[s].logprob, 2e-2) << "step " << step << " seq " << s;
      if (want[s].top_logprobs[0] - want[s].top_logprobs[1] > 0.05f) {
        ++clear_margin;
        EXPECT_EQ(got[s].token_id, want[s].token_id) << "step " << step << " seq " << s;
      }
      next[s] = want[s].token_id;
    }
  }
  EXPECT_GT(clear_margin, compared / 2);
  EXPECT_EQ(graphed->num_graph_steps(), 12);
  EXPECT_EQ(graphed->num_captured_graphs(), 2);  // buckets 4 and 2, one stride
  EXPECT_EQ(eager->num_graph_steps(), 0);
}

}  // namespace
}  // namespace kiln::cuda
