// The CUDA model against the CPU model (f32 over the same bf16 weights) on tiny random models:
// logits of mixed prefill/decode batches within bf16 bounds and the same greedy tokens where the
// CPU's choice is clear; decode equals prefill; batch invariance; the memory plan.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda_test_util.h"
#include "model/cpu_model.h"
#include "model/cuda/cuda_model.h"
#include "test_model.h"

namespace kiln::cuda {
namespace {

using kiln::testing::make_batch;
using kiln::testing::make_test_model;
using kiln::testing::SeqStep;
using kiln::testing::TestModelSpec;

TestModelSpec spec_for(Architecture architecture, int head_dim, int heads, int kv_heads, bool tied) {
  TestModelSpec spec;
  spec.architecture = architecture;
  spec.hidden = 256;
  spec.intermediate = 512;
  spec.layers = 2;
  spec.heads = heads;
  spec.kv_heads = kv_heads;
  spec.head_dim = head_dim;
  spec.vocab = 1000;
  spec.tied = tied;
  spec.dtype = DType::kBF16;
  spec.seed = 7;
  return spec;
}

std::vector<int32_t> tokens_of(int count, int seed) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < count; ++i) tokens.push_back((i * 37 + seed * 101) % 1000);
  return tokens;
}

struct Comparison {
  double relative_error = 0;
  double argmax_agreement = 0;
};

Comparison compare(const std::vector<float>& gpu, const std::vector<float>& cpu, int vocab) {
  double diff = 0, norm = 0;
  int agree = 0, rows = static_cast<int>(cpu.size() / vocab), decided = 0;
  for (int r = 0; r < rows; ++r) {
    const float* g = gpu.data() + static_cast<size_t>(r) * vocab;
    const float* c = cpu.data() + static_cast<size_t>(r) * vocab;
    for (int i = 0; i < vocab; ++i) {
      diff += double(g[i] - c[i]) * (g[i] - c[i]);
      norm += double(c[i]) * c[i];
    }
    std::vector<float> sorted(c, c + vocab);
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    if (sorted[0] - sorted[1] < 0.05f) continue;  // too close to call in bf16
    ++decided;
    agree += std::max_element(g, g + vocab) - g == std::max_element(c, c + vocab) - c;
  }
  return {std::sqrt(diff / norm), decided ? double(agree) / decided : 1.0};
}

class CudaModelTest : public ::testing::TestWithParam<TestModelSpec> {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

TEST_P(CudaModelTest, MatchesCpuModelOnMixedBatches) {
  auto model = make_test_model(GetParam());
  const int vocab = model->config.vocab_size;
  CpuModelOptions cpu_options;
  cpu_options.num_blocks = 64;
  cpu_options.num_threads = 2;
  auto cpu_model = CpuModel::create(model->config, model->weights, cpu_options);
  ASSERT_TRUE(cpu_model.ok()) << cpu_model.message();
  CudaModelOptions options;
  options.max_num_batched_tokens = 512;
  options.max_num_seqs = 8;
  options.max_model_len = 1024;
  options.num_blocks = 64;
  auto gpu_model = CudaModel::create(model->config, model->weights, options);
  ASSERT_TRUE(gpu_model.ok()) << gpu_model.message();

  // Step 1: two prefills (one chunked), step 2: decodes plus the rest of the chunked prefill.
  const auto a = tokens_of(150, 1), b = tokens_of(40, 2);
  std::vector<SeqStep> step1 = {{std::vector<int32_t>(a.begin(), a.begin() + 100), 100, {3, 9, 4, 11, 20, 21, 22}, true},
                                {b, 40, {30, 31, 5}, false}};
  std::vector<int32_t> b_next = b;
  b_next.push_back(17);
  std::vector<SeqStep> step2 = {{a, 50, {3, 9, 4, 11, 20, 21, 22, 23, 24, 25}, false},
                                {b_next, 1, {30, 31, 5}, false}};
  for (const auto& steps : {step1, step2}) {
    const ForwardBatch batch = make_batch(steps, 16);
    std::vector<float> cpu_logits, gpu_logits;
    ASSERT_TRUE((*cpu_model)->forward(batch, &cpu_logits).ok());
    ASSERT_TRUE((*gpu_model)->forward(batch, &gpu_logits).ok());
    const Comparison result = compare(gpu_logits, cpu_logits, vocab);
    EXPECT_LT(result.relative_error, 3e-2);
    EXPECT_GE(result.argmax_agreement, 0.95);
  }
}

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
