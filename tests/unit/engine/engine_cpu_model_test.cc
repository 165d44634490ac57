// The engine over the real CPU forward (a tiny random-weight Llama from `kiln synth`): outputs
// do not depend on the batch, on prefix caching or on preemption with real paged attention.
#include <gtest/gtest.h>

#include "cpu_engine_test_util.h"

namespace kiln::testing {
namespace {

class EngineCpuModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto llama = TinyLlama::create("kiln_engine_cpu_model_");
    ASSERT_TRUE(llama.ok()) << llama.message();
    llama_ = std::move(llama).value().release();
  }
  static void TearDownTestSuite() { delete llama_; }

  static std::unique_ptr<Engine> engine(int num_blocks, int max_batched_tokens,
                                        std::shared_ptr<StepGate> gate = nullptr, bool async_scheduling = false,
                                        DType kv_cache_dtype = DType::kF32) {
    CpuEngineOptions options;
    options.num_blocks = num_blocks;
    options.scheduler = {max_batched_tokens, 64, 256};
    options.kv_cache_dtype = kv_cache_dtype;
    options.async_scheduling = async_scheduling;
    options.gate = std::move(gate);
    return make_cpu_engine(*llama_->model, options);
  }

  static std::vector<int32_t> prompt(int length, int salt) {
    std::vector<int32_t> p;
    for (int i = 0; i < length; ++i) p.push_back((i * 37 + salt * 101 + 5) % 512);
    return p;
  }

  static TinyLlama* llama_;
};

TinyLlama* EngineCpuModelTest::llama_ = nullptr;

class EngineCpuModelKvDtypeTest : public EngineCpuModelTest, public ::testing::WithParamInterface<DType> {};

TEST_P(EngineCpuModelKvDtypeTest, BatchedPrefixCachedAndPreemptedRunsMatchRunningAlone) {
  const DType kv = GetParam();
  std::vector<EngineRequest> requests;
  const std::vector<int32_t> shared = prompt(40, 9);
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p = i < 3 ? prompt(5 + 13 * i, i) : shared;
    if (i >= 3) p.push_back(i);  // three prompts sharing 2 full blocks
    requests.push_back(make_request("r" + std::to_string(i), p, 12));
  }
  std::vector<std::vector<int32_t>> alone;
  for (const auto& r : requests) {
    auto e = engine(64, 512, nullptr, false, kv);
    alone.push_back(run_all(e.get(), {r})[0].choices.at(0).tokens);
    ASSERT_EQ(alone.back().size(), 12u);
  }
  auto batched = engine(64, 24, nullptr, false, kv);  // chunked prefills mixed with decodes
  auto together = run_all(batched.get(), requests);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(together[i].choices.at(0).tokens, alone[i]) << i;
  EXPECT_GT(batched->stats().prefix_cache_hits_tokens_total, 0);

  auto gate = std::make_shared<StepGate>();  // all 6 wait together: preemption whatever the timing
  auto tight = engine(8, 64, gate, false, kv);  // 8 blocks for 6 requests of up to 4 blocks: preemption
  auto preempted = run_all(tight.get(), requests, gate.get());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(preempted[i].choices.at(0).tokens, alone[i]) << i;
  EXPECT_GT(tight->stats().num_preemptions_total, 0);
}

INSTANTIATE_TEST_SUITE_P(KvCache, EngineCpuModelKvDtypeTest, ::testing::Values(DType::kF32, DType::kF8E4M3),
                         [](const auto& info) { return std::string(info.param == DType::kF32 ? "f32" : "fp8"); });

TEST_F(EngineCpuModelTest, AsyncSchedulingGivesTheSynchronousTokens) {
  // The real forward on a worker thread, each decode fed the previous step's sampled token by the
  // backend: greedy and seeded sampling, chunked prefill, prefix caching and preemption give the
  // tokens and logprobs of synchronous steps.
  std::vector<EngineRequest> requests;
  const std::vector<int32_t> shared = prompt(40, 9);
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p = i < 3 ? prompt(5 + 13 * i, i) : shared;
    if (i >= 3) p.push_back(i);
    EngineRequest r = make_request("r" + std::to_string(i), p, 12, i % 2 == 0 ? 0.0f : 0.9f);
    r.sampling.seed = 7 + i;
    r.sampling.logprobs = 1;
    requests.push_back(r);
  }
  for (int num_blocks : {64, 8}) {
    SCOPED_TRACE(num_blocks == 8 ? "preempting" : "roomy");
    auto gate = std::make_shared<StepGate>();
    auto sync = engine(num_blocks, 24, gate);
    const auto expected = run_all(sync.get(), requests, gate.get());
    auto async_gate = std::make_shared<StepGate>();
    auto async = engine(num_blocks, 24, async_gate, /*async_scheduling=*/true);
    const auto got = run_all(async.get(), requests, async_gate.get());
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(got[i].choices.at(0).tokens, expected[i].choices.at(0).tokens) << i;
      ASSERT_EQ(got[i].choices.at(0).logprobs.size(), 12u);
      for (int t = 0; t < 12; ++t) {
        EXPECT_EQ(got[i].choices.at(0).logprobs[t].logprob, expected[i].choices.at(0).logprobs[t].logprob) << i;
      }
    }
    EXPECT_EQ(async->stats().generation_tokens_total, sync->stats().generation_tokens_total);
    if (num_blocks == 8) {
      EXPECT_GT(async->stats().num_preemptions_total, 0);
    }
  }
}

}  // namespace
}  // namespace kiln::testing
