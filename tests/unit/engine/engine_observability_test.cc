// What the engine reports about a request beyond its tokens, for the API and /metrics: the rank
// of a logprob's token (vLLM's), the queue time of the first scheduling, and the global seed
// (vLLM's --seed) that makes requests without a seed reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "engine_test_util.h"

namespace kiln::testing {
namespace {

struct Collected {
  std::vector<int32_t> tokens;
  std::vector<std::optional<double>> queue_times;  // per output, in order
  FinishReason finish = FinishReason::kNone;
};

Collected drain(RequestStream& stream) {
  Collected c;
  while (auto out = stream.next()) {
    c.queue_times.push_back(out->queue_time_seconds);
    for (const CompletionOutput& o : out->outputs) {
      c.tokens.insert(c.tokens.end(), o.new_token_ids.begin(), o.new_token_ids.end());
      if (o.finish_reason != FinishReason::kNone) c.finish = o.finish_reason;
    }
  }
  return c;
}

std::unique_ptr<Engine> make_seeded_engine(std::optional<uint64_t> seed, int max_num_seqs = 256,
                                           int step_delay_ms = 0, std::shared_ptr<StepGate> gate = nullptr) {
  EngineConfig config;
  config.scheduler = {64, max_num_seqs, 1024};
  config.block_size = 16;
  config.num_blocks = 256;
  config.stats_log_interval_s = 0;
  config.seed = seed;
  std::unique_ptr<ModelExecutor> executor = std::make_unique<FakeModelExecutor>(kVocab, 256, 16);
  if (step_delay_ms > 0) executor = std::make_unique<SlowExecutor>(std::move(executor), step_delay_ms);
  if (gate) executor = std::make_unique<GatedExecutor>(std::move(executor), std::move(gate));
  return std::make_unique<Engine>(config, std::move(executor), nullptr);
}

// vLLM's rank: how many vocabulary entries have a logprob >= the token's (ties count against it).
TEST(EngineObservabilityTest, RankCountsEntriesAtLeastAsLikely) {
  const std::vector<float> logprobs = {-1.0f, -2.0f, -0.5f, -2.0f, -3.0f};
  EXPECT_EQ(make_token_logprob(logprobs, 2, 0).rank, 1);
  EXPECT_EQ(make_token_logprob(logprobs, 0, 0).rank, 2);
  EXPECT_EQ(make_token_logprob(logprobs, 1, 2).rank, 4);
  EXPECT_EQ(make_token_logprob(logprobs, 3, 0).rank, 4);
  EXPECT_EQ(make_token_logprob(logprobs, 4, 1).rank, 5);
}

TEST(EngineObservabilityTest, PromptAndSampleLogprobsCarryTheRank) {
  const std::vector<int32_t> prompt = make_prompt(20, 3);
  EngineRequest r = make_request("rank", prompt, 3);
  r.sampling.logprobs = 0;
  r.sampling.prompt_logprobs = 2;
  const RequestResult result = run_alone(r);
  FakeModelExecutor model(kVocab, 1, 1);
  ASSERT_TRUE(result.prompt_logprobs.has_value());
  for (size_t i = 1; i < prompt.size(); ++i) {
    const auto lp = log_softmax(model.logits_for({prompt.begin(), prompt.begin() + i}));
    const float own = lp[prompt[i]];
    const auto expected = std::count_if(lp.begin(), lp.end(), [&](float x) { return x >= own; });
    EXPECT_EQ((*result.prompt_logprobs)[i]->rank, expected) << i;
  }
  for (const TokenLogprob& lp : result.choices.at(0).logprobs) EXPECT_EQ(lp.rank, 1);  // greedy
}

// The first output after the first scheduling carries the queue time, once; a request that waits
// for a free sequence slot shows the wait.
TEST(EngineObservabilityTest, QueueTimeIsSentOnceAndShowsTheWait) {
  // The gate holds the first step until both are in, however the threads are scheduled.
  auto gate = std::make_shared<StepGate>();
  auto engine = make_seeded_engine(std::nullopt, /*max_num_seqs=*/1, /*step_delay_ms=*/20, gate);
  auto first = RequestStream::open(engine.get(), make_request("first", make_prompt(8, 1), 4));
  auto second = RequestStream::open(engine.get(), make_request("second", make_prompt(8, 2), 2));
  ASSERT_TRUE(first.ok() && second.ok());
  gate->release();
  const Collected a = drain(**first);
  const Collected b = drain(**second);
  for (const Collected* c : {&a, &b}) {
    ASSERT_FALSE(c->queue_times.empty());
    ASSERT_TRUE(c->queue_times.front().has_value());
    EXPECT_GE(*c->queue_times.front(), 0.0);
    EXPECT_EQ(std::count_if(c->queue_times.begin(), c->queue_times.end(),
                            [](const std::optional<double>& q) { return q.has_value(); }),
              1);
  }
  // "second" waited while "first" ran its 4 steps of at least 20 ms.
  EXPECT_GE(*b.queue_times.front(), 0.05);
  EXPECT_LT(*a.queue_times.front(), *b.queue_times.front());
}

TEST(EngineObservabilityTest, ARequestAbortedWhileWaitingHasNoQueueTime) {
  // The gate holds "running"'s first step until the abort is queued: the engine takes the abort
  // before it next schedules, so "waiting" never runs.
  auto gate = std::make_shared<StepGate>();
  auto engine = make_seeded_engine(std::nullopt, /*max_num_seqs=*/1, /*step_delay_ms=*/10, gate);
  auto running = RequestStream::open(engine.get(), make_request("running", make_prompt(8, 1), 30));
  auto waiting = RequestStream::open(engine.get(), make_request("waiting", make_prompt(8, 2), 2));
  ASSERT_TRUE(running.ok() && waiting.ok());
  engine->abort("waiting");
  gate->release();
  const Collected w = drain(**waiting);
  EXPECT_EQ(w.finish, FinishReason::kAbort);
  EXPECT_TRUE(w.tokens.empty());
  for (const auto& q : w.queue_times) EXPECT_FALSE(q.has_value());
  engine->abort("running");
  drain(**running);
}

// --seed: the same requests (without seeds) in the same order sample the same tokens on two
// engines; each request draws its own seed; without a global seed they are random.
TEST(EngineObservabilityTest, GlobalSeedMakesUnseededRequestsReproducible) {
  auto sample = [](Engine* engine, const std::string& id) {
    auto stream = RequestStream::open(engine, make_request(id, make_prompt(6, 4), 24, /*temperature=*/1.0f));
    EXPECT_TRUE(stream.ok());
    return drain(**stream).tokens;
  };
  auto a = make_seeded_engine(42);
  auto b = make_seeded_engine(42);
  auto unseeded = make_seeded_engine(std::nullopt);
  const std::vector<int32_t> a1 = sample(a.get(), "1"), a2 = sample(a.get(), "2");
  EXPECT_EQ(a1, sample(b.get(), "1"));
  EXPECT_EQ(a2, sample(b.get(), "2"));
  EXPECT_NE(a1, a2);
  EXPECT_NE(sample(unseeded.get(), "1"), a1);
}

}  // namespace
}  // namespace kiln::testing
