// The engine's outputs never depend on what else runs: batch invariance, prefix caching and
// preemption by recompute all give exactly the tokens of a request run alone.
#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace kiln::testing {
namespace {

TEST(EngineBatchingTest, ConcurrentGreedyRequestsMatchRunningAlone) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 16; ++i) {
    requests.push_back(make_request("r" + std::to_string(i), make_prompt(3 + 9 * i, i), 8 + i));
  }
  auto engine = make_engine({.max_num_batched_tokens = 40});  // chunked prefills mix with decodes
  const auto together = run_all(engine.get(), requests);
  for (int i = 0; i < 16; ++i) {
    const auto& req = requests[i];
    const RequestResult alone = run_alone(req);
    ASSERT_EQ(together[i].choices.size(), 1u);
    EXPECT_EQ(together[i].choices.at(0).tokens, alone.choices.at(0).tokens) << i;
    EXPECT_EQ(together[i].choices.at(0).tokens,
              reference_greedy(req.prompt_token_ids, req.sampling.max_tokens))
        << i;
    EXPECT_EQ(together[i].choices.at(0).finish_reason, FinishReason::kLength);
  }
  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.num_running, 0);
  EXPECT_EQ(stats.kv_cache_usage, 0.0);
  int64_t expected_generated = 0;
  for (int i = 0; i < 16; ++i) expected_generated += 8 + i;
  EXPECT_EQ(stats.generation_tokens_total, expected_generated);
}

TEST(EngineBatchingTest, SharedPrefixReusesCachedBlocksWithIdenticalOutput) {
  const std::vector<int32_t> shared = make_prompt(64, 1);
  std::vector<int32_t> first = shared, second = shared;
  for (int i = 0; i < 5; ++i) first.push_back(i + 1);
  for (int i = 0; i < 9; ++i) second.push_back(50 + i);

  auto engine = make_engine();
  run_all(engine.get(), {make_request("a", first, 6)});
  const EngineStats before = engine->stats();
  EXPECT_EQ(before.prefix_cache_hits_tokens_total, 0);
  const RequestResult warm = run_all(engine.get(), {make_request("b", second, 12)})[0];
  const EngineStats after = engine->stats();
  EXPECT_EQ(after.prefix_cache_hits_tokens_total, 64);  // 4 blocks of 16
  EXPECT_EQ(after.prefix_cache_queries_tokens_total, 69 + 73);
  EXPECT_EQ(warm.num_cached_tokens, 64);

  const RequestResult cold = run_alone(make_request("b", second, 12), {.enable_prefix_caching = false});
  EXPECT_EQ(warm.choices.at(0).tokens, cold.choices.at(0).tokens);
  EXPECT_EQ(cold.num_cached_tokens, 0);
}

TEST(EngineBatchingTest, TooSmallKvCacheStillCompletesEverythingWithPreemptions) {
  // 8 requests of 20 + 30 tokens need 4 blocks each; the cache has 10.
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 8; ++i) requests.push_back(make_request("r" + std::to_string(i), make_prompt(20, 40 + i), 30));
  auto gate = std::make_shared<StepGate>();  // all 8 wait together, however threads are scheduled
  auto engine = make_engine({.num_blocks = 10, .max_num_batched_tokens = 64, .gate = gate});
  const auto results = run_all(engine.get(), requests, gate.get());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(results[i].choices.at(0).finish_reason, FinishReason::kLength);
    EXPECT_EQ(results[i].choices.at(0).tokens, reference_greedy(requests[i].prompt_token_ids, 30)) << i;
  }
  const EngineStats stats = engine->stats();
  EXPECT_GT(stats.num_preemptions_total, 0);
  EXPECT_EQ(stats.kv_cache_usage, 0.0);
}

TEST(EngineBatchingTest, SeededSamplingIsReproducibleAcrossBatchCompositions) {
  auto seeded = [](const std::string& id, uint64_t seed) {
    EngineRequest r = make_request(id, make_prompt(30, 5), 24, 0.9f);
    r.sampling.top_p = 0.9f;
    r.sampling.top_k = 40;
    r.sampling.seed = seed;
    return r;
  };
  const RequestResult alone = run_alone(seeded("x", 42));
  std::vector<EngineRequest> mixed;
  for (int i = 0; i < 6; ++i) {
    EngineRequest other = make_request("o" + std::to_string(i), make_prompt(10 + 11 * i, 9 + i), 20, 1.0f);
    other.sampling.seed = 1000 + i;
    mixed.push_back(other);
    if (i == 3) mixed.push_back(seeded("x", 42));
  }
  auto engine = make_engine({.max_num_batched_tokens = 24});
  const auto results = run_all(engine.get(), mixed);
  EXPECT_EQ(results[4].choices.at(0).tokens, alone.choices.at(0).tokens);
  EXPECT_NE(run_alone(seeded("y", 43)).choices.at(0).tokens, alone.choices.at(0).tokens);
}

TEST(EngineBatchingTest, ThreeChoicesWithASeedShareThePromptAndFollowTheirOwnStreams) {
  EngineRequest r = make_request("n3", make_prompt(40, 3), 10, 1.0f);
  r.sampling.n = 3;
  r.sampling.seed = 7;
  auto engine = make_engine();
  const RequestResult result = run_all(engine.get(), {r})[0];
  ASSERT_EQ(result.choices.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EngineRequest single = r;
    single.sampling.n = 1;
    single.sampling.seed = 7 + i;  // choice i draws from seed + i, as vLLM
    EXPECT_EQ(result.choices.at(i).tokens, run_alone(single).choices.at(0).tokens) << i;
    EXPECT_EQ(result.choices.at(i).finish_reason, FinishReason::kLength);
  }
  EXPECT_NE(result.choices.at(0).tokens, result.choices.at(1).tokens);
  // Choices 1 and 2 took the prompt's 2 full blocks from choice 0.
  EXPECT_EQ(engine->stats().prefix_cache_hits_tokens_total, 2 * 32);
  EXPECT_EQ(engine->stats().kv_cache_usage, 0.0);
}

}  // namespace
}  // namespace kiln::testing
