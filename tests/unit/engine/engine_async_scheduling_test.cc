// Async scheduling: the engine launches step N + 1 before it collects step N, whose sampled
// tokens the backend feeds to step N + 1 itself, and processes step N's tokens while step N + 1
// computes. What users get must not change: the same tokens, text, finish and stop reasons,
// logprobs and counters as synchronous steps, with a sequence that finished at step N costing
// only a dropped token of step N + 1.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "engine_test_util.h"

namespace kiln::testing {
namespace {

// A workload that touches every per-token decision: chunked prefills mixed with decodes, greedy
// and seeded sampling with every cut-off, n > 1, stop strings (kept or cut), stop tokens,
// min_tokens, penalties and logit bias, logprobs and prompt logprobs. Stop strings are taken from
// a first run's text so that they do match.
std::vector<EngineRequest> mixed_workload() {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 14; ++i) {
    EngineRequest r = make_request("m" + std::to_string(i), make_prompt(5 + 7 * i, 20 + i), 10 + i,
                                   i % 3 == 0 ? 0.0f : 0.8f);
    r.sampling.seed = 100 + i;
    if (i % 4 == 1) r.sampling.logprobs = 2;
    if (i == 2) r.sampling.prompt_logprobs = 1;
    if (i == 5) r.sampling.n = 3;
    if (i == 7) r.sampling.min_tokens = 4;
    if (i == 10) r.sampling.top_k = 5, r.sampling.top_p = 0.8f, r.sampling.min_p = 0.05f;
    if (i == 11) r.sampling.logit_bias = {{3, 5.0f}, {4, -100.0f}};
    if (i == 12) r.sampling.repetition_penalty = 1.3f, r.sampling.frequency_penalty = 0.4f;
    if (i == 13) r.sampling.presence_penalty = 0.3f, r.sampling.n = 2;
    requests.push_back(r);
  }
  const std::vector<RequestResult> free_run = run_all(make_engine().get(), requests);
  for (int i : {0, 3, 4, 6, 9}) {
    // A two-character stop string spanning tokens 4 and 5 of the free run's text.
    const std::vector<int32_t>& tokens = free_run[i].choices.at(0).tokens;
    const size_t cut = text_of({tokens.begin(), tokens.begin() + 5}).size();
    requests[i].sampling.stop = {text_of(tokens).substr(cut - 1, 2)};
    requests[i].sampling.include_stop_str_in_output = i % 2 == 0;
  }
  requests[8].sampling.stop_token_ids = {free_run[8].choices.at(0).tokens.at(3)};
  requests[7].sampling.stop_token_ids = {free_run[7].choices.at(0).tokens.at(1)};  // before min_tokens
  return requests;
}

void expect_same_results(const std::vector<RequestResult>& a, const std::vector<RequestResult>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_EQ(a[i].error, b[i].error);
    ASSERT_EQ(a[i].choices.size(), b[i].choices.size());
    for (const auto& [index, x] : a[i].choices) {
      const ChoiceResult& y = b[i].choices.at(index);
      EXPECT_EQ(x.tokens, y.tokens) << "choice " << index;
      EXPECT_EQ(x.text, y.text) << "choice " << index;
      EXPECT_EQ(x.finish_reason, y.finish_reason) << "choice " << index;
      EXPECT_EQ(x.stop_reason, y.stop_reason) << "choice " << index;
      ASSERT_EQ(x.logprobs.size(), y.logprobs.size());
      for (size_t t = 0; t < x.logprobs.size(); ++t) {
        EXPECT_EQ(x.logprobs[t].token_id, y.logprobs[t].token_id);
        EXPECT_EQ(x.logprobs[t].logprob, y.logprobs[t].logprob);
        EXPECT_EQ(x.logprobs[t].top, y.logprobs[t].top);
      }
    }
    ASSERT_EQ(a[i].prompt_logprobs.has_value(), b[i].prompt_logprobs.has_value());
    if (a[i].prompt_logprobs) {
      ASSERT_EQ(a[i].prompt_logprobs->size(), b[i].prompt_logprobs->size());
      for (size_t p = 0; p < a[i].prompt_logprobs->size(); ++p) {
        const auto& x = (*a[i].prompt_logprobs)[p];
        const auto& y = (*b[i].prompt_logprobs)[p];
        ASSERT_EQ(x.has_value(), y.has_value()) << "position " << p;
        if (x) {
          EXPECT_EQ(x->logprob, y->logprob) << "position " << p;
        }
      }
    }
  }
}

TEST(EngineAsyncSchedulingTest, GivesTheOutputsOfSynchronousSteps) {
  const std::vector<EngineRequest> requests = mixed_workload();
  auto sync = make_engine({.max_num_batched_tokens = 40});
  const auto expected = run_all(sync.get(), requests);
  // Both a backend that finishes each step inside launch() and one that runs it on another thread.
  for (bool worker_thread : {false, true}) {
    SCOPED_TRACE(worker_thread ? "worker thread" : "synchronous backend");
    auto async = make_engine({.max_num_batched_tokens = 40, .async_scheduling = true, .worker_thread = worker_thread});
    const auto got = run_all(async.get(), requests);
    expect_same_results(expected, got);

    // The workload did what it is for: stop strings, a stop token, lengths, n > 1.
    int stopped_by_string = 0;
    for (int i : {0, 3, 4, 6, 9}) {
      stopped_by_string += std::holds_alternative<std::string>(got[i].choices.at(0).stop_reason);
    }
    EXPECT_EQ(stopped_by_string, 5);
    EXPECT_TRUE(std::holds_alternative<int32_t>(got[8].choices.at(0).stop_reason));
    EXPECT_GE(got[7].choices.at(0).tokens.size(), 4u);  // its stop token came before min_tokens
    EXPECT_EQ(got[5].choices.size(), 3u);

    // Tokens computed for sequences already finished are dropped, not counted.
    const EngineStats a = sync->stats(), b = async->stats();
    EXPECT_EQ(a.generation_tokens_total, b.generation_tokens_total);
    EXPECT_EQ(a.prompt_tokens_total, b.prompt_tokens_total);
    EXPECT_EQ(b.kv_cache_usage, 0.0);
    EXPECT_EQ(b.num_running, 0);
  }
}

// Launches of one greedy request of `max_tokens`, each with the number of steps collected then.
std::vector<int64_t> collected_at_launches(EngineRequest r, bool async_scheduling, int* tokens_received) {
  std::vector<int64_t> collected;
  auto engine = make_engine({.async_scheduling = async_scheduling,
                             .worker_thread = true,
                             .on_launch = [&](int64_t n) { collected.push_back(n); }});
  const RequestResult result = run_all(engine.get(), {std::move(r)})[0];
  *tokens_received = static_cast<int>(result.choices.at(0).tokens.size());
  return collected;
}

TEST(EngineAsyncSchedulingTest, LaunchesEachStepBeforeCollectingThePrevious) {
  int received = 0;
  // Synchronous steps: launch k follows the collection of step k - 1.
  std::vector<int64_t> sync = collected_at_launches(make_request("one", make_prompt(9, 4), 6), false, &received);
  EXPECT_EQ(received, 6);
  ASSERT_EQ(sync.size(), 6u);  // the sixth token ends it by length: no seventh step
  for (int k = 0; k < 6; ++k) EXPECT_EQ(sync[k], k) << "launch " << k;
  // Async: launch k (the prefill is 0) comes before step k - 1 is collected; its input token is
  // step k - 1's, fed on the backend. The last token is never fed, so no step computes past it.
  std::vector<int64_t> async = collected_at_launches(make_request("one", make_prompt(9, 4), 6), true, &received);
  EXPECT_EQ(received, 6);
  ASSERT_EQ(async.size(), 6u);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(async[k], std::max(0, k - 1)) << "launch " << k;
}

TEST(EngineAsyncSchedulingTest, PenaltiesWaitForTheLastTokenOnTheHost) {
  // The penalties read the generated tokens, so the next step's sampling row needs the last one:
  // each launch follows the collection of the step before, and the tokens are the synchronous ones.
  EngineRequest r = make_request("p", make_prompt(9, 4), 6, 0.8f);
  r.sampling.seed = 5;
  r.sampling.frequency_penalty = 0.7f;
  int received = 0;
  std::vector<int64_t> async = collected_at_launches(r, true, &received);
  ASSERT_EQ(async.size(), 6u);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(async[k], k) << "launch " << k;
  auto sync = make_engine();
  auto async_engine = make_engine({.async_scheduling = true, .worker_thread = true});
  expect_same_results(run_all(sync.get(), {r}), run_all(async_engine.get(), {r}));
}

TEST(EngineAsyncSchedulingTest, AStopStringFoundLateCostsOneDroppedToken) {
  // Greedy, so the tokens are known: the shortest stop string whose first match ends with the
  // text of token 6 (index 5).
  const std::vector<int32_t> prompt = make_prompt(12, 8);
  const std::vector<int32_t> free_tokens = reference_greedy(prompt, 20);
  const std::string full = text_of(free_tokens);
  const size_t end = text_of({free_tokens.begin(), free_tokens.begin() + 6}).size();
  size_t length = 1;
  while (full.find(full.substr(end - length, length)) != end - length) ++length;
  EngineRequest r = make_request("s", prompt, 20);
  r.sampling.stop = {full.substr(end - length, length)};

  int launches = 0;
  auto engine = make_engine({.async_scheduling = true, .worker_thread = true, .on_launch = [&](int64_t) { ++launches; }});
  const RequestResult result = run_all(engine.get(), {r})[0];
  const ChoiceResult& c = result.choices.at(0);
  EXPECT_EQ(c.tokens, std::vector<int32_t>(free_tokens.begin(), free_tokens.begin() + 6));
  EXPECT_EQ(std::get<std::string>(c.stop_reason), r.sampling.stop[0]);
  EXPECT_EQ(c.text, full.substr(0, end - length));
  // Prefill + 5 decodes made the 6 tokens; one more step was in flight when the text matched.
  EXPECT_EQ(launches, 7);
  EXPECT_EQ(engine->stats().generation_tokens_total, 6);
  EXPECT_EQ(engine->stats().kv_cache_usage, 0.0);
}

TEST(EngineAsyncSchedulingTest, PreemptionAndPrefixCachingGiveTheSameTokens) {
  std::vector<EngineRequest> requests;
  const std::vector<int32_t> shared = make_prompt(48, 3);
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> p = i % 2 == 0 ? make_prompt(20, 40 + i) : shared;
    p.push_back(i);
    requests.push_back(make_request("r" + std::to_string(i), p, 30));
  }
  auto gate = std::make_shared<StepGate>();
  auto engine = make_engine(
      {.num_blocks = 14, .max_num_batched_tokens = 64, .gate = gate, .async_scheduling = true, .worker_thread = true});
  const auto results = run_all(engine.get(), requests, gate.get());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(results[i].choices.at(0).tokens, reference_greedy(requests[i].prompt_token_ids, 30)) << i;
  }
  EXPECT_GT(engine->stats().num_preemptions_total, 0);
  EXPECT_GT(engine->stats().prefix_cache_hits_tokens_total, 0);
  EXPECT_EQ(engine->stats().kv_cache_usage, 0.0);
}

TEST(EngineAsyncSchedulingTest, AbortAndShutdownWithAStepInFlight) {
  auto engine = make_engine({.step_delay_ms = 5, .async_scheduling = true, .worker_thread = true});
  auto kept = RequestStream::open(engine.get(), make_request("kept", make_prompt(30, 1), 500));
  auto aborted = RequestStream::open(engine.get(), make_request("aborted", make_prompt(30, 2), 500));
  ASSERT_TRUE(kept.ok() && aborted.ok());
  ASSERT_TRUE((*aborted)->next().has_value());
  engine->abort("aborted");  // lands while steps are in flight
  FinishReason reason = FinishReason::kNone;
  while (auto out = (*aborted)->next()) {
    for (const auto& c : out->outputs) {
      if (c.finish_reason != FinishReason::kNone) reason = c.finish_reason;
    }
  }
  EXPECT_EQ(reason, FinishReason::kAbort);
  ASSERT_TRUE((*kept)->next().has_value());
  engine.reset();  // shuts down with "kept" still running and steps in flight
  reason = FinishReason::kNone;
  while (auto out = (*kept)->next()) {
    for (const auto& c : out->outputs) {
      if (c.finish_reason != FinishReason::kNone) reason = c.finish_reason;
    }
  }
  EXPECT_EQ(reason, FinishReason::kAbort);
}

TEST(EngineAsyncSchedulingTest, AFailedStepFailsItsRequestsAndTheEngineGoesOn) {
  // The first launch fails at once; the second launches and fails when collected. Each ends its
  // request with the backend's error, frees its blocks, and the engine takes the next request.
  class FailingBackend : public ModelExecutor {
   public:
    int vocab_size() const override { return kVocab; }
    bool runs_asynchronously() const override { return true; }
    Status launch(const StepInput&) override {
      return ++launches == 1 ? Status::error("device lost (launch)") : ok_status();
    }
    Status collect(StepResult*) override { return Status::error("device lost (collect)"); }
    int launches = 0;
  };
  EngineConfig config;
  config.num_blocks = 64;
  config.stats_log_interval_s = 0;
  Engine engine(config, std::make_unique<FailingBackend>(), nullptr);
  for (const char* expected : {"device lost (launch)", "device lost (collect)"}) {
    const RequestResult result = run_all(&engine, {make_request(expected, make_prompt(5, 1), 4)})[0];
    EXPECT_EQ(result.error, expected);
    EXPECT_EQ(result.choices.at(0).finish_reason, FinishReason::kError);
  }
  EXPECT_EQ(engine.stats().kv_cache_usage, 0.0);
}

TEST(EngineAsyncSchedulingTest, AFailedLaunchIsCompletedBeforeTheNextStepFeedsFromIt) {
  // Two requests decode together; one step's launch fails. The engine must not build the next
  // step from samples that step never produced: the surviving request's tokens stay right.
  class FailOnce : public ModelExecutor {
   public:
    explicit FailOnce(std::unique_ptr<ModelExecutor> inner) : inner_(std::move(inner)) {}
    int vocab_size() const override { return inner_->vocab_size(); }
    bool runs_asynchronously() const override { return true; }
    Status launch(const StepInput& input) override {
      if (++launches_ == 4) return Status::error("launch refused");
      return inner_->launch(input);
    }
    Status collect(StepResult* result) override { return inner_->collect(result); }

   private:
    std::unique_ptr<ModelExecutor> inner_;
    int launches_ = 0;
  };
  EngineConfig config;
  config.num_blocks = 64;
  config.stats_log_interval_s = 0;
  config.async_scheduling = true;
  auto gate = std::make_shared<StepGate>();
  Engine engine(config,
                std::make_unique<FailOnce>(std::make_unique<GatedExecutor>(
                    std::make_unique<FakeModelExecutor>(kVocab, 64, 16), gate)),
                nullptr);
  const auto results = run_all(&engine, {make_request("a", make_prompt(9, 1), 8), make_request("b", make_prompt(7, 2), 8)},
                               gate.get());
  // Both decode in every step, so both fail with the refused launch; nothing runs on wrong tokens
  // and every block is freed.
  for (const RequestResult& r : results) {
    EXPECT_EQ(r.error, "launch refused");
    EXPECT_EQ(r.choices.at(0).finish_reason, FinishReason::kError);
    const std::vector<int32_t>& got = r.choices.at(0).tokens;
    EXPECT_EQ(got.size(), 3u);  // launches 1-3 made tokens 1-3, the third collected after 4 failed
  }
  EXPECT_EQ(results[0].choices.at(0).tokens, reference_greedy(make_prompt(9, 1), 3));
  EXPECT_EQ(results[1].choices.at(0).tokens, reference_greedy(make_prompt(7, 2), 3));
  EXPECT_EQ(engine.stats().kv_cache_usage, 0.0);
  // The engine goes on: a new request completes.
  const RequestResult after = run_all(&engine, {make_request("c", make_prompt(5, 3), 4)})[0];
  EXPECT_EQ(after.choices.at(0).tokens, reference_greedy(make_prompt(5, 3), 4));
}

}  // namespace
}  // namespace kiln::testing
