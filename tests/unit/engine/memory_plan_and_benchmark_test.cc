#include <gtest/gtest.h>

#include "engine/memory_plan.h"
#include "engine/throughput_benchmark.h"
#include "engine_test_util.h"

namespace kiln::testing {
namespace {

TEST(MemoryPlanTest, SizesTheCacheFromTheBudget) {
  ModelConfig config;
  config.num_hidden_layers = 32;
  config.num_key_value_heads = 8;
  config.head_dim = 128;
  // Llama-3-8B in bf16: 2 * 32 * 16 * 8 * 128 * 2 bytes = 2 MiB per 16-token block.
  const int64_t per_block = kv_bytes_per_block(config, 16, DType::kBF16);
  EXPECT_EQ(per_block, 2 * 1024 * 1024);
  auto plan = plan_kv_cache(int64_t{2} << 30, per_block, 16, 8192, 16'000'000'000, 1'000'000);
  ASSERT_TRUE(plan.ok()) << plan.message();
  EXPECT_EQ(plan->num_blocks, 1024);
  EXPECT_EQ(plan->num_kv_tokens(), 16384);
  EXPECT_DOUBLE_EQ(plan->max_concurrency(), 2.0);
  ::testing::internal::CaptureStderr();
  log_memory_plan(*plan);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("Maximum concurrency for 8,192 tokens per request: 2.00x"), std::string::npos)
      << log;
  EXPECT_NE(log.find("KV cache size: 16,384 tokens"), std::string::npos) << log;

  auto too_small = plan_kv_cache(int64_t{8} << 20, per_block, 16, 8192, 0, 0);
  ASSERT_FALSE(too_small.ok());
  EXPECT_NE(too_small.message().find("estimated maximum model length is 64"), std::string::npos)
      << too_small.message();
}

TEST(LatencySummaryTest, MeanAndPercentiles) {
  const LatencySummary s = summarize_latencies({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_NEAR(s.p99, 3.97, 1e-9);
  EXPECT_DOUBLE_EQ(summarize_latencies({}).p99, 0.0);
}

TEST(ThroughputBenchmarkTest, RunsEveryRequestToItsOutputLength) {
  auto engine = make_engine({.max_num_batched_tokens = 128, .max_num_seqs = 4});
  ThroughputBenchmarkOptions options;
  options.num_prompts = 10;
  options.input_len = 20;
  options.output_len = 7;
  options.vocab_size = kVocab;
  options.show_progress = false;
  auto result = run_throughput_benchmark(engine.get(), options);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->num_requests, 10);
  EXPECT_EQ(result->output_tokens, 70);
  EXPECT_EQ(result->prompt_tokens, 200);
  EXPECT_GT(result->elapsed_s, 0.0);
  EXPECT_NEAR(result->total_tokens_per_s, 270 / result->elapsed_s, 1e-6);
  EXPECT_GT(result->ttft_ms.p99, 0.0);
  EXPECT_GE(result->ttft_ms.p99, result->ttft_ms.p50);
  EXPECT_GT(result->itl_ms.mean, 0.0);
  options.output_len = 0;
  EXPECT_FALSE(run_throughput_benchmark(engine.get(), options).ok());
}

TEST(EngineLogTest, LogsVllmThroughputLineWhileBusy) {
  EngineConfig config;
  config.scheduler = {64, 8, 512};
  config.num_blocks = 64;
  config.stats_log_interval_s = 0.05;
  ::testing::internal::CaptureStderr();
  {
    Engine engine(config,
                  std::make_unique<SlowExecutor>(std::make_unique<FakeModelExecutor>(kVocab, 64, 16), 2),
                  nullptr);
    run_all(&engine, {make_request("a", make_prompt(40, 1), 60)});
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("Avg prompt throughput: "), std::string::npos) << log;
  EXPECT_NE(log.find(" tokens/s, Avg generation throughput: "), std::string::npos) << log;
  EXPECT_NE(log.find("Running: 1 reqs, Waiting: 0 reqs, KV cache usage: "), std::string::npos)
      << log;
  EXPECT_NE(log.find("Prefix cache hit rate: 0.0%"), std::string::npos) << log;
}

}  // namespace
}  // namespace kiln::testing
