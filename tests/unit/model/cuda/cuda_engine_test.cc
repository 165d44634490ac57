// The engine over the CUDA executor with async scheduling (step N + 1 launched before step N is
// collected, its decodes fed step N's samples on the device) against synchronous steps.
//
// Where both runs give every step the same batch, the outputs must be bitwise equal: greedy and
// seeded sampling, stop strings, stop tokens, lengths, logprobs. Async scheduling changes a batch
// only by a finished sequence's one extra row, which at these sizes stays inside the same CUDA
// graph bucket (8 rows, 16-block tables), so no row's arithmetic changes. Where batches do differ
// (n > 1 siblings admitted a step later, preemption, arrivals mid-run, an abort), tokens must
// still agree except after a bf16 near-tie (top-2 logprobs within 0.05 in the synchronous run).
#include <gtest/gtest.h>

#include <cmath>

#include "cuda_test_setup.h"
#include "cuda_test_util.h"
#include "engine_test_util.h"

namespace kiln::testing {
namespace {

constexpr int kEngineVocab = kSmallLlamaVocab;

class CudaEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }

  std::unique_ptr<Engine> engine(bool async_scheduling, int num_blocks = 128,
                                 std::shared_ptr<StepGate> gate = nullptr, int max_num_batched_tokens = 256) {
    if (!model_) model_ = make_test_model(small_bf16_llama(23));
    const cuda::CudaModelOptions options = engine_model_options(num_blocks, max_num_batched_tokens);
    std::unique_ptr<ModelExecutor> executor = make_cuda_executor(*model_, options);
    if (gate) executor = std::make_unique<GatedExecutor>(std::move(executor), std::move(gate));
    return std::make_unique<Engine>(engine_config_for(options, async_scheduling), std::move(executor),
                                    [](std::span<const int32_t>, bool) { return std::make_unique<FakeDetokenizer>(); });
  }

  static std::vector<int32_t> prompt(int length, int salt) {
    std::vector<int32_t> p;
    for (int i = 0; i < length; ++i) p.push_back((i * 37 + salt * 101 + 5) % kEngineVocab);
    return p;
  }

  // Submitted behind a gate so that every request is admitted in the first step in both runs.
  std::vector<RequestResult> run_together(bool async_scheduling, const std::vector<EngineRequest>& requests,
                                          int num_blocks = 128) {
    auto gate = std::make_shared<StepGate>();
    auto e = engine(async_scheduling, num_blocks, gate);
    return run_all(e.get(), requests, gate.get());
  }

  std::unique_ptr<TestModel> model_;
};

void expect_identical(const std::vector<RequestResult>& want, const std::vector<RequestResult>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_EQ(want[i].error, got[i].error);
    ASSERT_EQ(want[i].choices.size(), got[i].choices.size());
    for (const auto& [index, a] : want[i].choices) {
      const ChoiceResult& b = got[i].choices.at(index);
      EXPECT_EQ(a.tokens, b.tokens);
      EXPECT_EQ(a.text, b.text);
      EXPECT_EQ(a.finish_reason, b.finish_reason);
      EXPECT_EQ(a.stop_reason, b.stop_reason);
      ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
      for (size_t t = 0; t < a.logprobs.size(); ++t) {
        EXPECT_EQ(a.logprobs[t].logprob, b.logprobs[t].logprob) << "token " << t;
        EXPECT_EQ(a.logprobs[t].top, b.logprobs[t].top) << "token " << t;
      }
    }
  }
}

// Tokens equal up to the end, or up to a position where the synchronous run's top two were
// within `near_tie` (bf16 rounding may order them either way); after that the texts diverge.
void expect_same_up_to_near_ties(const ChoiceResult& want, const ChoiceResult& got, float near_tie = 0.05f) {
  const size_t n = std::min(want.tokens.size(), got.tokens.size());
  for (size_t t = 0; t < n; ++t) {
    if (want.tokens[t] == got.tokens[t]) continue;
    ASSERT_LT(t, want.logprobs.size());
    ASSERT_GE(want.logprobs[t].top.size(), 2u);
    EXPECT_LT(want.logprobs[t].top[0].second - want.logprobs[t].top[1].second, near_tie)
        << "tokens differ at " << t << " without a near-tie";
    return;
  }
  EXPECT_EQ(want.tokens.size(), got.tokens.size());
}

TEST_F(CudaEngineTest, AsyncSchedulingGivesTheSynchronousOutputsBitForBit) {
  // Eight requests admitted together; every decode step replays the 8-row graph in both runs.
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 8; ++i) {
    EngineRequest r = make_request("r" + std::to_string(i), prompt(9 + 11 * i, i), 24 + 3 * i, i % 2 ? 0.8f : 0.0f);
    r.sampling.seed = 50 + i;
    r.sampling.logprobs = 2;
    if (i == 3) r.sampling.top_p = 0.9f, r.sampling.top_k = 40;
    if (i == 5) r.sampling.min_p = 0.1f, r.sampling.min_tokens = 5;
    requests.push_back(r);
  }
  const auto free_run = run_together(false, requests);
  // Stop strings and a stop token taken from the free run, so that they match mid-way.
  for (int i : {1, 2, 6}) {
    const std::vector<int32_t>& tokens = free_run[i].choices.at(0).tokens;
    const size_t cut = text_of({tokens.begin(), tokens.begin() + 7}).size();
    requests[i].sampling.stop = {text_of(tokens).substr(cut - 1, 2)};
    requests[i].sampling.include_stop_str_in_output = i == 2;
  }
  requests[4].sampling.stop_token_ids = {free_run[4].choices.at(0).tokens.at(9)};

  const auto sync = run_together(false, requests);
  const auto async = run_together(true, requests);
  expect_identical(sync, async);
  for (int i : {1, 2, 6}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(async[i].choices.at(0).stop_reason)) << i;
  }
  EXPECT_TRUE(std::holds_alternative<int32_t>(async[4].choices.at(0).stop_reason));
}

TEST_F(CudaEngineTest, AsyncSchedulingKeepsTokensWithSiblingsPreemptionArrivalsAndAborts) {
  std::vector<EngineRequest> requests;
  const std::vector<int32_t> shared = prompt(70, 9);
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p = i < 3 ? prompt(20 + 17 * i, i) : shared;
    if (i >= 3) p.push_back(i);  // prefix caching across requests
    EngineRequest r = make_request("d" + std::to_string(i), p, 40, i == 4 ? 0.7f : 0.0f);
    r.sampling.seed = 11;
    r.sampling.logprobs = 2;
    if (i == 4) r.sampling.n = 2;
    requests.push_back(r);
  }
  for (int num_blocks : {128, 20}) {  // 20 blocks: preemption
    SCOPED_TRACE(num_blocks == 20 ? "preempting" : "roomy");
    const auto want = run_together(false, requests, num_blocks);
    const auto got = run_together(true, requests, num_blocks);
    for (size_t i = 0; i < requests.size(); ++i) {
      for (const auto& [index, choice] : want[i].choices) {
        SCOPED_TRACE("request " + std::to_string(i) + " choice " + std::to_string(index));
        expect_same_up_to_near_ties(choice, got[i].choices.at(index));
      }
    }
  }

  // Arrivals mid-run and an abort while steps are in flight: the others finish with their
  // synchronous tokens, the aborted one ends with abort, and every block comes back.
  auto async = engine(true);
  auto first = RequestStream::open(async.get(), requests[0]);
  auto doomed = RequestStream::open(async.get(), make_request("doomed", prompt(30, 7), 200));
  ASSERT_TRUE(first.ok() && doomed.ok());
  ASSERT_TRUE((*doomed)->next().has_value());
  auto late = RequestStream::open(async.get(), requests[1]);
  ASSERT_TRUE(late.ok());
  async->abort("doomed");
  RequestResult first_result, late_result, doomed_result;
  while (auto out = (*first)->next()) accumulate(&first_result, std::move(*out));
  while (auto out = (*late)->next()) accumulate(&late_result, std::move(*out));
  while (auto out = (*doomed)->next()) accumulate(&doomed_result, std::move(*out));
  const auto alone = run_together(false, {requests[0], requests[1]});
  expect_same_up_to_near_ties(alone[0].choices.at(0), first_result.choices.at(0));
  expect_same_up_to_near_ties(alone[1].choices.at(0), late_result.choices.at(0));
  EXPECT_EQ(doomed_result.choices.at(0).finish_reason, FinishReason::kAbort);
  EXPECT_EQ(async->stats().kv_cache_usage, 0.0);
}

}  // namespace
}  // namespace kiln::testing
