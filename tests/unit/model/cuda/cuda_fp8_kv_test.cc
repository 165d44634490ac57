// The CUDA model with an FP8 KV cache (--kv-cache-dtype fp8): against HF transformers on the tiny
// golden models (scales calculated from the prompts) and against its own bf16 cache; the memory
// plan gives it twice the blocks; with fixed scales a sequence's logits do not depend on its
// batch; decode graphs replay what eager steps compute.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda_test_setup.h"
#include "cuda_test_util.h"
#include "golden_fixture.h"
#include "model/cuda/cuda_model.h"
#include "test_model.h"

namespace kiln::cuda {
namespace {

using kiln::testing::make_batch;
using kiln::testing::make_test_model;
using kiln::testing::small_bf16_llama;
using kiln::testing::TestModelSpec;

TestModelSpec fp8_spec() {
  TestModelSpec spec = small_bf16_llama(19);
  spec.heads = 8;
  return spec;
}

std::vector<int32_t> tokens_of(int count, int seed) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < count; ++i) tokens.push_back((i * 37 + seed * 101) % 1000);
  return tokens;
}

class CudaFp8KvGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaFp8KvGoldenTest, StaysCloseToHfTransformers) {
  KILN_SKIP_WITHOUT_GPU();
  const std::string name = GetParam();
  const nlohmann::json fixture = kiln::testing::read_golden_fixture(name);
  if (fixture.is_null()) GTEST_SKIP() << "no golden fixture " << name;
  auto loaded = kiln::testing::synth_golden_model(
      fixture, std::filesystem::path(KILN_BINARY_DIR) / "golden-models-cuda-fp8kv" / name);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const ModelConfig& config = (*loaded)->config;
  int num_blocks = 0;
  const ForwardBatch batch = kiln::testing::golden_prompts_batch(fixture, 16, &num_blocks);
  std::vector<float> logits[2];  // bf16 cache, FP8 cache
  for (int fp8 = 0; fp8 < 2; ++fp8) {
    CudaModelOptions options;
    options.max_num_batched_tokens = batch.num_tokens();
    options.max_num_seqs = batch.num_seqs();
    options.max_model_len = 1024;
    options.num_blocks = num_blocks;
    options.kv_cache_dtype = fp8 ? DType::kF8E4M3 : DType::kBF16;
    options.calculate_kv_scales = fp8;
    auto model = CudaModel::create(config, (*loaded)->weights, options);
    ASSERT_TRUE(model.ok()) << model.message();
    std::vector<SampledRow> none;
    ASSERT_TRUE((*model)->forward_sampled(batch, {}, {}, &logits[fp8], &none).ok());
  }
  const size_t vocab = static_cast<size_t>(config.vocab_size);
  size_t row = 0;
  int decided = 0, agree = 0;
  double sum_hf = 0, worst_hf = 0, sum_bf16 = 0, worst_bf16 = 0;
  for (const nlohmann::json& prompt : fixture.at("prompts")) {
    const auto greedy = prompt.at("greedy").get<std::vector<int>>();
    const auto greedy_lp = prompt.at("greedy_logprob").get<std::vector<double>>();
    const auto second_lp = prompt.at("second_logprob").get<std::vector<double>>();
    for (size_t p = 0; p < greedy.size(); ++p, ++row) {
      const float* l = logits[1].data() + row * vocab;
      const std::vector<double> fp8 = kiln::testing::log_softmax_row(l, vocab);
      const std::vector<double> bf16 = kiln::testing::log_softmax_row(logits[0].data() + row * vocab, vocab);
      const size_t token = static_cast<size_t>(greedy[p]);
      const double d_hf = std::abs(fp8[token] - greedy_lp[p]), d_bf16 = std::abs(fp8[token] - bf16[token]);
      sum_hf += d_hf, worst_hf = std::max(worst_hf, d_hf);
      sum_bf16 += d_bf16, worst_bf16 = std::max(worst_bf16, d_bf16);
      if (greedy_lp[p] - second_lp[p] > 0.1) {
        ++decided;
        agree += std::max_element(l, l + vocab) - l == greedy[p];
      }
    }
  }
  std::printf("%s (CUDA, FP8 KV cache, calculated scales): greedy agreement with HF fp32 %.4f over %d clear positions; "
              "|logprob - HF| mean %.4f worst %.4f; |logprob - kiln bf16 cache| mean %.4f worst %.4f\n",
              name.c_str(), decided ? static_cast<double>(agree) / decided : 1.0, decided, sum_hf / row, worst_hf,
              sum_bf16 / row, worst_bf16);
  // The CPU twin's figures on the same goldens: agreement 81-99%, mean 0.04-0.18
  // (tests/unit/forward/golden_fp8_kv_test.cc).
  EXPECT_GE(decided ? static_cast<double>(agree) / decided : 1.0, 0.8);
  EXPECT_LT(sum_hf / row, 0.25);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaFp8KvGoldenTest, ::testing::ValuesIn(kiln::testing::golden_model_names()),
                         [](const auto& info) { return info.param; });

TEST(CudaFp8KvTest, ThePlanHoldsTwiceTheBlocks) {
  KILN_SKIP_WITHOUT_GPU();
  auto model = make_test_model(fp8_spec());
  int64_t blocks[2] = {0, 0}, kv_bytes[2] = {0, 0}, kv_budget[2] = {0, 0};
  for (int fp8 = 0; fp8 < 2; ++fp8) {
    CudaModelOptions options;
    options.max_num_batched_tokens = 256;
    options.max_num_seqs = 4;
    options.max_model_len = 512;
    options.gpu_memory_limit_bytes = int64_t{2} << 30;
    options.gpu_memory_utilization = 0.5;
    options.kv_cache_dtype = fp8 ? DType::kF8E4M3 : DType::kBF16;
    auto gpu_model = CudaModel::create(model->config, model->weights, options);
    ASSERT_TRUE(gpu_model.ok()) << gpu_model.message();
    const MemoryPlan& plan = (*gpu_model)->memory_plan();
    blocks[fp8] = plan.num_blocks;
    kv_bytes[fp8] = plan.kv_cache_bytes;
    // What weights and activations leave: the measured CUDA context and graph pool come out of it,
    // and they vary with the allocator's state (a second model in one process found 12 MiB of
    // graph memory already pooled on an H100).
    kv_budget[fp8] = plan.usable_bytes - plan.weights_bytes - plan.activation_bytes;
    EXPECT_GT(plan.num_graphs, 0);
    EXPECT_LE(plan.weights_bytes + plan.activation_bytes + plan.context_bytes + plan.graphs_bytes + plan.kv_cache_bytes,
              plan.usable_bytes);
    std::printf("%s cache: %lld blocks, CUDA graphs reserved %.1f MiB for %d graphs\n", fp8 ? "fp8" : "bf16",
                static_cast<long long>(plan.num_blocks), plan.graphs_bytes / 1048576.0, plan.num_graphs);
  }
  // An FP8 block takes half a bf16 one, and the same budget holds twice the blocks.
  EXPECT_EQ(kv_bytes[0] / blocks[0], 2 * (kv_bytes[1] / blocks[1]));
  EXPECT_NEAR(static_cast<double>(kv_budget[1]), static_cast<double>(kv_budget[0]), static_cast<double>(kv_budget[0]) * 0.01);
  EXPECT_NEAR(static_cast<double>(kv_bytes[1]), static_cast<double>(kv_bytes[0]), static_cast<double>(kv_budget[0]) * 0.03);
}

TEST(CudaFp8KvTest, FixedScalesKeepBatchInvarianceAndGraphsMatchEagerSteps) {
  KILN_SKIP_WITHOUT_GPU();
  auto model = make_test_model(fp8_spec());
  auto create = [&](bool enforce_eager) {
    CudaModelOptions options;
    options.max_num_batched_tokens = 512;
    options.max_num_seqs = 8;
    options.max_model_len = 1024;
    options.num_blocks = 64;
    options.enforce_eager = enforce_eager;
    options.kv_cache_dtype = DType::kF8E4M3;
    options.kv_scales.assign(2 * model->config.num_hidden_layers, 0.04f);
    auto created = CudaModel::create(model->config, model->weights, options);
    EXPECT_TRUE(created.ok()) << created.message();
    return std::move(created).value();
  };
  auto gpu_model = create(true);
  const auto a = tokens_of(33, 3), b = tokens_of(70, 4), c = tokens_of(5, 5);
  std::vector<float> alone, together;
  ASSERT_TRUE(gpu_model->forward(make_batch({{a, 33, {1, 2, 3}, false}}, 16), &alone).ok());
  ASSERT_TRUE(gpu_model
                  ->forward(make_batch({{b, 70, {10, 11, 12, 13, 14}, false}, {a, 33, {1, 2, 3}, false},
                                        {c, 5, {20}, false}},
                                       16),
                            &together)
                  .ok());
  const int vocab = model->config.vocab_size;
  EXPECT_EQ(alone, std::vector<float>(together.begin() + vocab, together.begin() + 2 * vocab));

  // Decode steps: graphs against eager, greedy rows, over the cache the prefill wrote.
  auto eager = create(true), graphed = create(false);
  std::vector<SamplingRowParams> rows(3);
  for (int i = 0; i < 3; ++i) rows[i].logits_row = i, rows[i].num_top_logprobs = 2;
  const ForwardBatch prefill = make_batch({{a, 33, {1, 2, 3}, false}, {b, 70, {10, 11, 12, 13, 14}, false},
                                           {c, 5, {20}, false}},
                                          16);
  std::vector<float> other;
  std::vector<SampledRow> want, got;
  ASSERT_TRUE(eager->forward_sampled(prefill, rows, {}, &other, &want).ok());
  ASSERT_TRUE(graphed->forward_sampled(prefill, rows, {}, &other, &got).ok());
  std::vector<std::vector<int32_t>> seqs = {a, b, c};
  const std::vector<std::vector<int32_t>> blocks = {{1, 2, 3}, {10, 11, 12, 13, 14}, {20}};
  for (int step = 0; step < 6; ++step) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(want[i].token_id, got[i].token_id) << "step " << step << " row " << i;
      seqs[i].push_back(want[i].token_id);
    }
    const ForwardBatch decode = make_batch(
        {{seqs[0], 1, blocks[0], false}, {seqs[1], 1, blocks[1], false}, {seqs[2], 1, blocks[2], false}}, 16);
    ASSERT_TRUE(eager->forward_sampled(decode, rows, {}, &other, &want).ok());
    ASSERT_TRUE(graphed->forward_sampled(decode, rows, {}, &other, &got).ok());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(want[i].logprob, got[i].logprob) << "step " << step << " row " << i;
  }
  EXPECT_GT(graphed->num_graph_steps(), 0);
}

}  // namespace
}  // namespace kiln::cuda
