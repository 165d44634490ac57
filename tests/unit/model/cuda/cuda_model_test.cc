// The CUDA model against HF transformers on the golden models, batch invariance on tiny random
// models, and the memory plan.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda_test_setup.h"
#include "cuda_test_util.h"
#include "model/cpu_model.h"
#include "model/cuda/cuda_model.h"
#include "golden_fixture.h"
#include "test_model.h"

namespace kiln::cuda {
namespace {

using kiln::testing::make_batch;
using kiln::testing::make_test_model;
using kiln::testing::SeqStep;
using kiln::testing::small_bf16_llama;
using kiln::testing::TestModelSpec;

TestModelSpec spec_for(Architecture architecture, int head_dim, int heads, int kv_heads, bool tied) {
  TestModelSpec spec = small_bf16_llama(7);
  spec.architecture = architecture;
  spec.heads = heads;
  spec.kv_heads = kv_heads;
  spec.head_dim = head_dim;
  spec.tied = tied;
  return spec;
}

std::vector<int32_t> tokens_of(int count, int seed) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < count; ++i) tokens.push_back((i * 37 + seed * 101) % 1000);
  return tokens;
}

class CudaModelTest : public ::testing::TestWithParam<TestModelSpec> {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

// The CUDA model in bf16 against HF transformers in fp32 on the golden models: bf16 weights and
// activations move log-probabilities by a few hundredths, so the bounds are on agreement of the
// greedy token where HF's choice is clear and on the mean and worst logprob error; the numbers
// are printed for bench/RESULTS.md.
class CudaGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGoldenTest, MatchesHfTransformersWithinBf16) {
  KILN_SKIP_WITHOUT_GPU();
  const std::string name = GetParam();
  const nlohmann::json fixture = kiln::testing::read_golden_fixture(name);
  if (fixture.is_null()) GTEST_SKIP() << "no golden fixture " << name;
  auto loaded = kiln::testing::synth_golden_model(
      fixture, std::filesystem::path(KILN_BINARY_DIR) / "golden-models-cuda" / name);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const ModelConfig& config = (*loaded)->config;
  int num_blocks = 0;
  const ForwardBatch batch = kiln::testing::golden_prompts_batch(fixture, 16, &num_blocks);
  CudaModelOptions options;
  options.max_num_batched_tokens = batch.num_tokens();
  options.max_num_seqs = batch.num_seqs();
  options.max_model_len = 1024;
  options.num_blocks = num_blocks;
  auto model = CudaModel::create(config, (*loaded)->weights, options);
  ASSERT_TRUE(model.ok()) << model.message();
  std::vector<float> logits;
  ASSERT_TRUE((*model)->forward(batch, &logits).ok());

  const size_t vocab = static_cast<size_t>(config.vocab_size);
  size_t row = 0;
  int decided = 0, agree = 0;
  double sum_diff = 0, worst = 0;
  for (const nlohmann::json& prompt : fixture.at("prompts")) {
    const auto greedy = prompt.at("greedy").get<std::vector<int>>();
    const auto greedy_lp = prompt.at("greedy_logprob").get<std::vector<double>>();
    const auto second_lp = prompt.at("second_logprob").get<std::vector<double>>();
    for (size_t p = 0; p < greedy.size(); ++p, ++row) {
      const float* l = logits.data() + row * vocab;
      const std::vector<double> logprobs = kiln::testing::log_softmax_row(l, vocab);
      const double diff = std::abs(logprobs[static_cast<size_t>(greedy[p])] - greedy_lp[p]);
      sum_diff += diff;
      worst = std::max(worst, diff);
      if (greedy_lp[p] - second_lp[p] > 0.1) {
        ++decided;
        agree += std::max_element(l, l + vocab) - l == greedy[p];
      }
    }
  }
  const double agreement = decided ? static_cast<double>(agree) / decided : 1.0;
  std::printf("%s (CUDA bf16 vs HF fp32): %zu positions, greedy agreement %.4f over %d clear positions, "
              "|logprob - HF| mean %.4f worst %.4f\n",
              name.c_str(), row, agreement, decided, sum_diff / row, worst);
  EXPECT_GE(agreement, 0.97);
  EXPECT_LT(sum_diff / row, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaGoldenTest, ::testing::ValuesIn(kiln::testing::golden_model_names()),
                         [](const auto& info) { return info.param; });

TEST_P(CudaModelTest, BatchInvariant) {
  auto model = make_test_model(GetParam());
  CudaModelOptions options;
  options.max_num_batched_tokens = 512;
  options.max_num_seqs = 8;
  options.max_model_len = 1024;
  options.num_blocks = 64;
  auto gpu_model = CudaModel::create(model->config, model->weights, options);
  ASSERT_TRUE(gpu_model.ok()) << gpu_model.message();
  const auto a = tokens_of(33, 3), b = tokens_of(70, 4), c = tokens_of(5, 5);
  std::vector<float> alone, together;
  ASSERT_TRUE((*gpu_model)->forward(make_batch({{a, 33, {1, 2, 3}, false}}, 16), &alone).ok());
  ASSERT_TRUE((*gpu_model)
                  ->forward(make_batch({{b, 70, {10, 11, 12, 13, 14}, false}, {a, 33, {1, 2, 3}, false},
                                        {c, 5, {20}, false}},
                                       16),
                            &together)
                  .ok());
  const int vocab = model->config.vocab_size;
  const std::vector<float> a_in_batch(together.begin() + vocab, together.begin() + 2 * vocab);
  EXPECT_EQ(alone, a_in_batch);
}

TEST(CudaMemoryPlan, SizesTheKvCacheFromTheBudget) {
  KILN_SKIP_WITHOUT_GPU();
  auto model = make_test_model(spec_for(Architecture::kLlama, 128, 4, 2, false));
  CudaModelOptions options;
  options.max_num_batched_tokens = 256;
  options.max_num_seqs = 4;
  options.max_model_len = 512;
  options.gpu_memory_limit_bytes = int64_t{2} << 30;
  options.gpu_memory_utilization = 0.5;
  auto gpu_model = CudaModel::create(model->config, model->weights, options);
  ASSERT_TRUE(gpu_model.ok()) << gpu_model.message();
  const MemoryPlan& plan = (*gpu_model)->memory_plan();
  EXPECT_EQ(plan.total_bytes, int64_t{2} << 30);
  EXPECT_EQ(plan.usable_bytes, int64_t{1} << 30);
  EXPECT_GT(plan.num_blocks, 0);
  EXPECT_LE(plan.weights_bytes + plan.activation_bytes + plan.context_bytes + plan.kv_cache_bytes, plan.usable_bytes);

  options.gpu_memory_utilization = 0.01;  // 20 MiB: less than the CUDA context alone
  auto starved = CudaModel::create(model->config, model->weights, options);
  ASSERT_FALSE(starved.ok());
  EXPECT_NE(starved.message().find("KV cache"), std::string::npos) << starved.message();
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaModelTest,
                         ::testing::Values(spec_for(Architecture::kLlama, 128, 4, 2, false),
                                           spec_for(Architecture::kLlama, 64, 8, 1, true),
                                           spec_for(Architecture::kQwen2, 64, 4, 4, false)));

}  // namespace
}  // namespace kiln::cuda
