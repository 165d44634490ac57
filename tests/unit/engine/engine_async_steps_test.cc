// Overlapped steps: with a backend that launches asynchronously the engine computes step N + 1
// while it makes step N's text and hands out its outputs. What users get must not change: the
// same tokens, text, finish and stop reasons, logprobs and counters as synchronous steps, with
// stop strings found one step late costing only a dropped token.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "engine_test_util.h"

namespace kiln::testing {
namespace {

// A workload that touches every per-token decision: chunked prefills mixed with decodes, greedy
// and seeded sampling, n > 1, stop strings (kept or cut), stop tokens, min_tokens, logprobs and
// prompt logprobs. Stop strings are taken from a first run's text so that they do match.
std::vector<EngineRequest> mixed_workload() {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 12; ++i) {
    EngineRequest r = make_request("m" + std::to_string(i), make_prompt(5 + 7 * i, 20 + i), 10 + i,
                                   i % 3 == 0 ? 0.0f : 0.8f);
    r.sampling.seed = 100 + i;
    if (i % 4 == 1) r.sampling.logprobs = 2;
    if (i == 2) r.sampling.prompt_logprobs = 1;
    if (i == 5) r.sampling.n = 3;
    if (i == 7) r.sampling.min_tokens = 4;
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

TEST(EngineAsyncStepsTest, OverlappedStepsGiveTheOutputsOfSynchronousSteps) {
  const std::vector<EngineRequest> requests = mixed_workload();
  auto sync = make_engine({.max_num_batched_tokens = 40, .device_sampling = true});
  auto overlapped = make_engine({.max_num_batched_tokens = 40, .async_steps = true});
  const auto expected = run_all(sync.get(), requests);
  const auto got = run_all(overlapped.get(), requests);
  expect_same_results(expected, got);

  // The workload did what it is for: stop strings, a stop token, lengths.
  int stopped_by_string = 0;
  for (int i : {0, 3, 4, 6, 9}) {
    stopped_by_string += std::holds_alternative<std::string>(got[i].choices.at(0).stop_reason);
  }
  EXPECT_EQ(stopped_by_string, 5);
  EXPECT_TRUE(std::holds_alternative<int32_t>(got[8].choices.at(0).stop_reason));
  EXPECT_GE(got[7].choices.at(0).tokens.size(), 4u);  // its stop token came before min_tokens
  EXPECT_EQ(got[5].choices.size(), 3u);

  // Tokens computed for choices already stopped are dropped, not counted.
  const EngineStats a = sync->stats(), b = overlapped->stats();
  EXPECT_EQ(a.generation_tokens_total, b.generation_tokens_total);
  EXPECT_EQ(a.prompt_tokens_total, b.prompt_tokens_total);
  EXPECT_EQ(b.kv_cache_usage, 0.0);
  EXPECT_EQ(b.num_running, 0);
}

TEST(EngineAsyncStepsTest, OutputsOfAStepAreHandedOutWhileTheNextComputes) {
  // On the engine thread, each launch records how many tokens the client has received. Launch k
  // (the prefill is 0) follows the collection of step k - 1, whose token goes out only after.
  for (bool async : {false, true}) {
    SCOPED_TRACE(async ? "async" : "sync");
    std::atomic<int> received{0};
    std::vector<int> received_at_launch;
    std::mutex done_mutex;
    std::condition_variable done_cv;
    bool done = false;
    auto engine = make_engine({.device_sampling = true,
                               .async_steps = async,
                               .on_launch = [&] { received_at_launch.push_back(received.load()); }});
    EngineRequest r = make_request("one", make_prompt(9, 4), 6);
    ASSERT_TRUE(engine
                    ->submit(std::move(r),
                             [&](RequestOutput out) {
                               for (const auto& c : out.outputs) received += static_cast<int>(c.new_token_ids.size());
                               if (out.finished) {
                                 std::lock_guard<std::mutex> lock(done_mutex);
                                 done = true;
                                 done_cv.notify_all();
                               }
                             })
                    .ok());
    {
      std::unique_lock<std::mutex> lock(done_mutex);
      done_cv.wait(lock, [&] { return done; });
    }
    EXPECT_EQ(received.load(), 6);
    if (!async) continue;  // the synchronous fake has no launch hook
    ASSERT_EQ(received_at_launch.size(), 6u);  // the sixth token ends it by length: no seventh step
    for (int k = 0; k < 6; ++k) EXPECT_EQ(received_at_launch[k], std::max(0, k - 1)) << "launch " << k;
  }
}

TEST(EngineAsyncStepsTest, AStopStringFoundLateCostsOneDroppedToken) {
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
  auto engine = make_engine({.async_steps = true, .on_launch = [&] { ++launches; }});
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

TEST(EngineAsyncStepsTest, PreemptionAndPrefixCachingGiveTheSameTokens) {
  std::vector<EngineRequest> requests;
  const std::vector<int32_t> shared = make_prompt(48, 3);
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> p = i % 2 == 0 ? make_prompt(20, 40 + i) : shared;
    p.push_back(i);
    requests.push_back(make_request("r" + std::to_string(i), p, 30));
  }
  auto gate = std::make_shared<StepGate>();
  auto engine = make_engine({.num_blocks = 14, .max_num_batched_tokens = 64, .gate = gate, .async_steps = true});
  const auto results = run_all(engine.get(), requests, gate.get());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(results[i].choices.at(0).tokens, reference_greedy(requests[i].prompt_token_ids, 30)) << i;
  }
  EXPECT_GT(engine->stats().num_preemptions_total, 0);
  EXPECT_GT(engine->stats().prefix_cache_hits_tokens_total, 0);
  EXPECT_EQ(engine->stats().kv_cache_usage, 0.0);
}

TEST(EngineAsyncStepsTest, AbortAndShutdownWithAStepInFlight) {
  auto engine = make_engine({.step_delay_ms = 5, .async_steps = true});
  auto kept = RequestStream::open(engine.get(), make_request("kept", make_prompt(30, 1), 500));
  auto aborted = RequestStream::open(engine.get(), make_request("aborted", make_prompt(30, 2), 500));
  ASSERT_TRUE(kept.ok() && aborted.ok());
  ASSERT_TRUE((*aborted)->next().has_value());
  engine->abort("aborted");  // lands between a launch and its collection
  FinishReason reason = FinishReason::kNone;
  while (auto out = (*aborted)->next()) {
    for (const auto& c : out->outputs) {
      if (c.finish_reason != FinishReason::kNone) reason = c.finish_reason;
    }
  }
  EXPECT_EQ(reason, FinishReason::kAbort);
  ASSERT_TRUE((*kept)->next().has_value());
  engine.reset();  // shuts down with "kept" still running and a step in flight
  reason = FinishReason::kNone;
  while (auto out = (*kept)->next()) {
    for (const auto& c : out->outputs) {
      if (c.finish_reason != FinishReason::kNone) reason = c.finish_reason;
    }
  }
  EXPECT_EQ(reason, FinishReason::kAbort);
}

TEST(EngineAsyncStepsTest, AFailedStepFailsItsRequestsAndTheEngineGoesOn) {
  // The first launch fails at once; the second launches and fails when collected. Each ends its
  // request with the backend's error, frees its blocks, and the engine takes the next request.
  class FailingCollect : public ModelExecutor {
   public:
    int vocab_size() const override { return kVocab; }
    Status execute(const ForwardBatch&, std::vector<float>*) override { return Status::error("unused"); }
    bool samples_on_device() const override { return true; }
    bool launches_async() const override { return true; }
    Status launch_and_sample(const ForwardBatch&, const DeviceSamplingBatch&) override {
      return ++launches == 1 ? Status::error("device lost (launch)") : ok_status();
    }
    Status collect_sampled(std::vector<float>*, std::vector<SampledRow>*) override {
      return Status::error("device lost (collect)");
    }
    int launches = 0;
  };
  EngineConfig config;
  config.num_blocks = 64;
  config.stats_log_interval_s = 0;
  Engine engine(config, std::make_unique<FailingCollect>(), nullptr);
  for (const char* expected : {"device lost (launch)", "device lost (collect)"}) {
    const RequestResult result = run_all(&engine, {make_request(expected, make_prompt(5, 1), 4)})[0];
    EXPECT_EQ(result.error, expected);
    EXPECT_EQ(result.choices.at(0).finish_reason, FinishReason::kError);
  }
  EXPECT_EQ(engine.stats().kv_cache_usage, 0.0);
}

}  // namespace
}  // namespace kiln::testing
