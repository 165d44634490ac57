// --tensor-parallel-size on the CPU backend, end to end through build_engine (the backend, its
// memory plan and the engine): TP=2 and TP=4 generate the tokens of TP=1, with logprobs within f32
// rounding, for greedy and seeded sampling over chunked prefills, prefix caching, preemption and
// async scheduling; and sizes the model does not split are refused naming the flag and the field.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu_engine_test_util.h"
#include "engine/engine_args.h"
#include "engine/engine_builder.h"
#include "engine/model_backend.h"
#include "model/model_config.h"

namespace kiln::testing {
namespace {

class EngineTensorParallelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("kiln_engine_tp_");
    const Status synthesized = synth_tiny_llama(dir_->path());  // 4 heads, 2 KV heads
    ASSERT_TRUE(synthesized.ok()) << synthesized.message();
  }
  static void TearDownTestSuite() { delete dir_; }

  static RunningEngine start(int tp, int num_blocks, bool async_scheduling = false) {
    EngineArgs args;
    args.device = "cpu";
    args.tensor_parallel_size = tp;
    args.num_kv_blocks_override = num_blocks;
    args.max_num_batched_tokens = 24;  // chunked prefills mixed with decodes
    args.max_model_len = 64;
    args.num_threads = 2;
    args.async_scheduling = async_scheduling;
    args.show_progress = false;
    auto config = load_model_config(dir_->path() / "config.json");
    EXPECT_TRUE(config.ok()) << config.message();
    auto resolved = resolve_engine_args(args, *config, AvailableDevices{});
    EXPECT_TRUE(resolved.ok()) << resolved.message();
    auto running = build_engine(dir_->path(), *resolved, GenerationDefaults{}, nullptr);
    EXPECT_TRUE(running.ok()) << running.message();
    return std::move(running).value();
  }

  static std::vector<EngineRequest> requests() {
    std::vector<EngineRequest> out;
    std::vector<int32_t> shared;
    for (int i = 0; i < 40; ++i) shared.push_back((i * 37 + 9 * 101 + 5) % 512);
    for (int i = 0; i < 6; ++i) {
      std::vector<int32_t> p = shared;
      if (i < 3) {
        p.clear();
        for (int t = 0; t < 5 + 13 * i; ++t) p.push_back((t * 37 + i * 101 + 5) % 512);
      } else {
        p.push_back(i);  // three prompts sharing two full blocks: prefix caching
      }
      EngineRequest r = make_request("r" + std::to_string(i), p, 12, i % 2 == 0 ? 0.0f : 0.9f);
      r.sampling.seed = 7 + i;
      r.sampling.logprobs = 1;
      out.push_back(r);
    }
    return out;
  }

  static TempDir* dir_;
};

TempDir* EngineTensorParallelTest::dir_ = nullptr;

TEST_F(EngineTensorParallelTest, GeneratesTheTokensOfOneRank) {
  RunningEngine one = start(1, 64);
  const auto expected = run_all(one.engine.get(), requests());
  for (int tp : {2, 4}) {
    for (bool async_scheduling : {false, true}) {
      for (int num_blocks : {64, 8}) {  // 8 blocks for 6 requests of up to 4 blocks: preemption
        SCOPED_TRACE("TP=" + std::to_string(tp) + (async_scheduling ? " async" : "") + " blocks " +
                     std::to_string(num_blocks));
        RunningEngine running = start(tp, num_blocks, async_scheduling);
        EXPECT_EQ(running.device, "cpu");
        EXPECT_EQ(running.plan.num_blocks, num_blocks);
        const auto got = run_all(running.engine.get(), requests());
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_EQ(got[i].choices.at(0).tokens, expected[i].choices.at(0).tokens) << i;
          ASSERT_EQ(got[i].choices.at(0).logprobs.size(), 12u);
          for (int t = 0; t < 12; ++t) {
            EXPECT_NEAR(got[i].choices.at(0).logprobs[t].logprob, expected[i].choices.at(0).logprobs[t].logprob, 1e-4)
                << i << " token " << t;
          }
        }
        EXPECT_GT(running.engine->stats().prefix_cache_hits_tokens_total, 0);
        if (num_blocks == 8) {
          EXPECT_GT(running.engine->stats().num_preemptions_total, 0);
        }
      }
    }
  }
}

TEST_F(EngineTensorParallelTest, KvBudgetCountsEveryRanksHeads) {
  // --kv-cache-memory buys the same blocks whatever the split: the 2 KV heads split over 2 ranks,
  // and are held twice over 4 ranks (each rank's query heads need their KV head), so TP=4 gets
  // half the blocks of the same budget.
  auto config = load_model_config(dir_->path() / "config.json");
  ASSERT_TRUE(config.ok());
  const int64_t one = kv_bytes_per_block(*config, 16, DType::kF32);
  for (auto [tp, expected_blocks] : {std::pair{1, 20}, std::pair{2, 20}, std::pair{4, 10}}) {
    EngineArgs args;
    args.device = "cpu";
    args.tensor_parallel_size = tp;
    args.kv_cache_memory_bytes = 20 * one;
    args.max_model_len = 64;
    args.show_progress = false;
    auto resolved = resolve_engine_args(args, *config, AvailableDevices{});
    ASSERT_TRUE(resolved.ok()) << resolved.message();
    auto running = build_engine(dir_->path(), *resolved, GenerationDefaults{}, nullptr);
    ASSERT_TRUE(running.ok()) << running.message();
    EXPECT_EQ(running->plan.num_blocks, expected_blocks) << "TP=" << tp;
  }
}

TEST_F(EngineTensorParallelTest, RefusesSizesTheModelDoesNotSplit) {
  auto config = load_model_config(dir_->path() / "config.json");
  ASSERT_TRUE(config.ok());
  EngineArgs args;
  args.device = "cpu";
  args.tensor_parallel_size = 8;  // 4 attention heads
  auto resolved = resolve_engine_args(args, *config, AvailableDevices{});
  ASSERT_FALSE(resolved.ok());
  EXPECT_NE(resolved.message().find("--tensor-parallel-size 8"), std::string::npos) << resolved.message();
  EXPECT_NE(resolved.message().find("num_attention_heads (4)"), std::string::npos) << resolved.message();
  args.tensor_parallel_size = 3;
  EXPECT_FALSE(resolve_engine_args(args, *config, AvailableDevices{}).ok());
}

}  // namespace
}  // namespace kiln::testing
