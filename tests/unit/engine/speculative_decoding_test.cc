// Speculative decoding through the whole engine over the fake model (engine/spec/): greedy outputs
// are the tokens of plain decoding whatever the drafts (all right, some right, all wrong), with
// stop tokens and strings, length limits, logprobs, penalties, prefix caching, preemption and async
// scheduling; sampled outputs follow the target's distribution (a chi-square test over a
// four-token vocabulary that fails an engine whose verification favours the drafts).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/spec/ngram_proposer.h"
#include "engine/spec/oracle_proposer.h"
#include "engine/spec/spec_decode_log.h"
#include "engine/throughput_benchmark.h"
#include "engine_test_util.h"

namespace kiln::testing {
namespace {

SpeculativeConfig oracle_config(int k, int topk = 1) {
  SpeculativeConfig c;
  c.method = "oracle";
  c.num_speculative_tokens = k;
  c.draft_tree_topk = topk;
  EXPECT_TRUE(resolve_speculative_config(&c).ok());
  return c;
}

// The oracle drafting the fake model's greedy continuation of each prompt.
std::function<std::unique_ptr<DraftProposer>()> oracle_for(const std::vector<EngineRequest>& requests,
                                                          double acceptance_rate) {
  std::vector<OracleRecording> recordings;
  for (const EngineRequest& r : requests) {
    recordings.push_back({r.prompt_token_ids, reference_greedy(r.prompt_token_ids, r.sampling.max_tokens)});
  }
  return [recordings, acceptance_rate] { return std::make_unique<OracleProposer>(recordings, acceptance_rate, 7); };
}

std::vector<EngineRequest> greedy_requests(int count, int max_tokens) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < count; ++i) {
    requests.push_back(make_request("r" + std::to_string(i), make_prompt(5 + 3 * i, i), max_tokens - i % 4));
  }
  return requests;
}

TEST(NgramProposerTest, DraftsWhatFollowedTheEarliestOfTheLongestEarlierMatch) {
  EXPECT_EQ(find_ngram_drafts(std::vector<int32_t>{1, 2, 3, 4, 1, 2, 3}, 1, 3, 3), (std::vector<int32_t>{4, 1, 2}));
  // "1 2" ends at 2 and at 5: the earliest wins.
  EXPECT_EQ(find_ngram_drafts(std::vector<int32_t>{5, 1, 2, 9, 1, 2, 7, 1, 2}, 1, 2, 3), (std::vector<int32_t>{9, 1, 2}));
  // A longer match beats an earlier shorter one.
  const std::vector<int32_t> longer = {1, 2, 8, 3, 1, 2, 9, 0, 3, 1, 2};
  EXPECT_EQ(find_ngram_drafts(longer, 1, 3, 3), (std::vector<int32_t>{9, 0, 3}));
  EXPECT_EQ(find_ngram_drafts(longer, 1, 2, 2), (std::vector<int32_t>{8, 3}));
  // Shorter than prompt_lookup_min: nothing.
  EXPECT_TRUE(find_ngram_drafts(longer, 4, 5, 3).empty());
  // The continuation stops at the end of the tokens; no earlier occurrence: nothing.
  EXPECT_EQ(find_ngram_drafts(std::vector<int32_t>{7, 7, 7}, 1, 2, 5), (std::vector<int32_t>{7}));
  EXPECT_TRUE(find_ngram_drafts(std::vector<int32_t>{1, 2, 3, 4}, 1, 3, 3).empty());
  EXPECT_TRUE(find_ngram_drafts(std::vector<int32_t>{1, 2, 1}, 1, 3, 0).empty());
}

TEST(SpeculativeConfigTest, ResolvesVllmDefaultsAndNamesTheFieldInErrors) {
  SpeculativeConfig ngram;
  ngram.method = "ngram";
  ngram.num_speculative_tokens = 3;
  ASSERT_TRUE(resolve_speculative_config(&ngram).ok());
  EXPECT_EQ(ngram.prompt_lookup_min, 5);
  EXPECT_EQ(ngram.prompt_lookup_max, 5);
  ngram.prompt_lookup_min.reset();
  ngram.prompt_lookup_max = 3;
  ASSERT_TRUE(resolve_speculative_config(&ngram).ok());
  EXPECT_EQ(ngram.prompt_lookup_min, 3);
  SpeculativeConfig suffix;
  suffix.method = "suffix";
  ASSERT_TRUE(resolve_speculative_config(&suffix).ok());
  EXPECT_EQ(suffix.num_speculative_tokens, 24);  // the tree depth
  EXPECT_EQ(suffix.batch_size_limit(), 32);

  auto error_of = [](SpeculativeConfig c) { return resolve_speculative_config(&c).message(); };
  SpeculativeConfig bad = ngram;
  bad.method = "medusa";
  EXPECT_NE(error_of(bad).find("method 'medusa' is not supported"), std::string::npos) << error_of(bad);
  bad = ngram;
  bad.num_speculative_tokens = 0;
  EXPECT_NE(error_of(bad).find("--speculative-config: num_speculative_tokens"), std::string::npos);
  bad = ngram;
  bad.prompt_lookup_min = 4;
  bad.prompt_lookup_max = 2;
  EXPECT_NE(error_of(bad).find("prompt_lookup_max (2) must be at least prompt_lookup_min (4)"), std::string::npos);
  bad = suffix;
  bad.prompt_lookup_max = 2;
  EXPECT_NE(error_of(bad).find("apply to method ngram only"), std::string::npos);
  bad.prompt_lookup_max.reset();
  bad.method = "eagle3";
  EXPECT_NE(error_of(bad).find("model is required"), std::string::npos);
  bad = ngram;
  bad.disable_by_batch_size = 0;
  EXPECT_NE(error_of(bad).find("disable_by_batch_size"), std::string::npos);
  bad = ngram;
  bad.draft_tree_topk = 4;  // more children than nodes
  EXPECT_NE(error_of(bad).find("draft_tree_topk must be between 1 and num_speculative_tokens (3), got 4"), std::string::npos);
  bad.draft_tree_topk = 2;
  EXPECT_TRUE(error_of(bad).empty());
  bad = suffix;
  bad.draft_tree_topk = 2;
  EXPECT_TRUE(error_of(bad).empty());
}

TEST(SpeculativeDecodingTest, GreedyOutputsAreThePlainOnesAtEveryAcceptanceRate) {
  for (double rate : {1.0, 0.7, 0.3, 0.0}) {
    SCOPED_TRACE("acceptance rate " + std::to_string(rate));
    const std::vector<EngineRequest> requests = greedy_requests(6, 40);
    EngineOptions options;
    options.speculative = oracle_config(4);
    options.make_draft_proposer = oracle_for(requests, rate);
    auto engine = make_engine(options);
    const std::vector<RequestResult> results = run_all(engine.get(), requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      const ChoiceResult& c = results[i].choices.at(0);
      EXPECT_EQ(c.tokens, reference_greedy(requests[i].prompt_token_ids, requests[i].sampling.max_tokens)) << i;
      EXPECT_EQ(c.finish_reason, FinishReason::kLength);
    }
    const EngineStats stats = engine->stats();
    EXPECT_GT(stats.spec_decode_num_drafts, 0);
    ASSERT_EQ(stats.spec_decode_num_accepted_tokens_per_pos.size(), 4u);
    int64_t generated = 0;
    for (const EngineRequest& r : requests) generated += r.sampling.max_tokens;
    EXPECT_EQ(stats.generation_tokens_total, generated);
    if (rate == 1.0) {
      // Every draft accepted: a step yields k + 1 tokens.
      EXPECT_EQ(stats.spec_decode_num_accepted_tokens, stats.spec_decode_num_draft_tokens);
      EXPECT_LE(stats.spec_decode_num_drafts, generated / 4);
    } else if (rate == 0.0) {
      EXPECT_EQ(stats.spec_decode_num_accepted_tokens, 0);
    } else {
      EXPECT_GT(stats.spec_decode_num_accepted_tokens, 0);
      EXPECT_LT(stats.spec_decode_num_accepted_tokens, stats.spec_decode_num_draft_tokens);
    }
    // Per position: each accepted position had every position before it accepted.
    const auto& per_pos = stats.spec_decode_num_accepted_tokens_per_pos;
    int64_t sum = 0;
    for (size_t j = 0; j < per_pos.size(); ++j) {
      sum += per_pos[j];
      if (j > 0) {
        EXPECT_LE(per_pos[j], per_pos[j - 1]);
      }
    }
    EXPECT_EQ(sum, stats.spec_decode_num_accepted_tokens);
  }
}

// Runs `requests` (distinct prompts) with and without speculation and expects the same results:
// tokens, text, logprobs, finish and stop reasons. The drafts are the oracle's: each request's
// plain output (choice 0), corrupted at the given rate.
void expect_same_with_speculation(std::vector<EngineRequest> requests, double rate, EngineOptions options = {}) {
  auto plain_engine = make_engine(options);
  const std::vector<RequestResult> plain = run_all(plain_engine.get(), requests);
  std::vector<OracleRecording> recordings;
  for (size_t i = 0; i < requests.size(); ++i) {
    recordings.push_back({requests[i].prompt_token_ids, plain[i].choices.at(0).tokens});
  }
  options.speculative = oracle_config(3);
  options.make_draft_proposer = [recordings, rate] { return std::make_unique<OracleProposer>(recordings, rate, 3); };
  auto spec_engine = make_engine(options);
  const std::vector<RequestResult> spec = run_all(spec_engine.get(), requests);
  EXPECT_GT(spec_engine->stats().spec_decode_num_drafts, 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_EQ(spec[i].choices.size(), plain[i].choices.size());
    for (const auto& [index, expected] : plain[i].choices) {
      const ChoiceResult& actual = spec[i].choices.at(index);
      EXPECT_EQ(actual.tokens, expected.tokens);
      EXPECT_EQ(actual.text, expected.text);
      EXPECT_EQ(actual.finish_reason, expected.finish_reason);
      EXPECT_EQ(actual.stop_reason, expected.stop_reason);
      ASSERT_EQ(actual.logprobs.size(), expected.logprobs.size());
      for (size_t t = 0; t < expected.logprobs.size(); ++t) {
        EXPECT_EQ(actual.logprobs[t].token_id, expected.logprobs[t].token_id);
        EXPECT_FLOAT_EQ(actual.logprobs[t].logprob, expected.logprobs[t].logprob);
        EXPECT_EQ(actual.logprobs[t].rank, expected.logprobs[t].rank);
        EXPECT_EQ(actual.logprobs[t].top, expected.logprobs[t].top);
      }
    }
    EXPECT_EQ(spec[i].error, plain[i].error);
  }
}

TEST(SpeculativeDecodingTest, StopsLengthsLogprobsAndPenaltiesMatchPlainDecoding) {
  std::vector<EngineRequest> requests;
  // A stop token id inside accepted drafts (and one the drafts run past), and stop strings.
  const std::vector<int32_t> prompt = make_prompt(12, 3);
  EngineRequest stop_token = make_request("stop_token", prompt, 30);
  stop_token.sampling.stop_token_ids = {reference_greedy(prompt, 30)[6]};
  requests.push_back(stop_token);
  const std::vector<int32_t> prompt2 = make_prompt(12, 4);
  const std::vector<int32_t> free_run = reference_greedy(prompt2, 30);
  EngineRequest stop_string = make_request("stop_string", prompt2, 30);
  stop_string.sampling.stop = {text_of({free_run[9], free_run[10]})};
  requests.push_back(stop_string);
  EngineRequest included = make_request("stop_string_included", make_prompt(12, 5), 30);
  included.sampling.stop = {text_of({reference_greedy(included.prompt_token_ids, 30)[4]})};
  included.sampling.include_stop_str_in_output = true;
  requests.push_back(included);
  for (int max_tokens : {1, 2, 3, 4, 5, 9}) {
    requests.push_back(make_request("len" + std::to_string(max_tokens), make_prompt(7, 20 + max_tokens), max_tokens));
  }
  EngineRequest logprobs = make_request("logprobs", make_prompt(9, 8), 17);
  logprobs.sampling.logprobs = 3;
  requests.push_back(logprobs);
  // Penalties and min_tokens change each verify row by the drafts before it.
  EngineRequest penalties = make_request("penalties", make_prompt(10, 9), 25);
  penalties.sampling.repetition_penalty = 1.3f;
  penalties.sampling.frequency_penalty = 0.4f;
  penalties.sampling.presence_penalty = 0.2f;
  requests.push_back(penalties);
  // A presence penalty no logit survives: no output token repeats, so a verify row that missed
  // the drafts before it in its history would pick one of them again.
  EngineRequest no_repeats = make_request("no_repeats", make_prompt(4, 11), 90);
  no_repeats.sampling.presence_penalty = 100.0f;
  requests.push_back(no_repeats);
  EngineRequest min_tokens = make_request("min_tokens", make_prompt(12, 6), 20);
  const std::vector<int32_t> free_run3 = reference_greedy(min_tokens.prompt_token_ids, 20);
  min_tokens.sampling.min_tokens = 8;
  min_tokens.sampling.stop_token_ids = {free_run3[2], free_run3[9]};
  requests.push_back(min_tokens);
  EngineRequest choices = make_request("n2", make_prompt(6, 10), 15);
  choices.sampling.n = 2;
  requests.push_back(choices);
  for (double rate : {1.0, 0.6}) {
    SCOPED_TRACE("acceptance rate " + std::to_string(rate));
    expect_same_with_speculation(requests, rate);
  }
}

TEST(SpeculativeDecodingTest, PrefixCachingPreemptionAndAsyncSchedulingKeepTheTokens) {
  std::vector<EngineRequest> requests = greedy_requests(8, 48);
  for (EngineRequest& r : requests) {  // a shared prefix for the prefix cache
    r.prompt_token_ids.insert(r.prompt_token_ids.begin(), 40, 17);
  }
  EngineOptions options;
  options.num_blocks = 28;  // too few for all at once: preemption by recompute
  options.block_size = 8;
  options.max_num_batched_tokens = 40;  // chunked prefill
  for (bool async : {false, true}) {
    SCOPED_TRACE(async ? "async" : "sync");
    options.async_scheduling = async;
    options.worker_thread = async;
    expect_same_with_speculation(requests, 0.8, options);
  }
  auto engine = make_engine(options);
  run_all(engine.get(), requests);
  EXPECT_GT(engine->stats().num_preemptions_total, 0);
  EXPECT_GT(engine->stats().prefix_cache_hits_tokens_total, 0);
}

TEST(SpeculativeDecodingTest, NgramDraftsOnRepetitiveTextKeepGreedyOutputs) {
  // The fake model falls into no loops, so repeat the prompt's own pattern: lookup finds it.
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> prompt;
    for (int r = 0; r < 6; ++r) {
      for (int t = 0; t < 5; ++t) prompt.push_back((t * 11 + i) % kVocab);
    }
    requests.push_back(make_request("ngram" + std::to_string(i), prompt, 30));
  }
  EngineOptions options;
  options.speculative.method = "ngram";
  options.speculative.num_speculative_tokens = 4;
  options.speculative.prompt_lookup_min = 1;
  options.speculative.prompt_lookup_max = 3;
  ASSERT_TRUE(resolve_speculative_config(&options.speculative).ok());
  auto engine = make_engine(options);
  const std::vector<RequestResult> results = run_all(engine.get(), requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(results[i].choices.at(0).tokens, reference_greedy(requests[i].prompt_token_ids, 30)) << i;
  }
  EXPECT_GT(engine->stats().spec_decode_num_draft_tokens, 0);
}

// Drafts nothing, or a fixed guess of kVocab - 1 tokens when `always` (never accepted, but drafts).
class CountingProposer : public DraftProposer {
 public:
  CountingProposer(std::shared_ptr<int> calls, bool always) : calls_(std::move(calls)), always_(always) {}
  void propose(const DraftContext& context, DraftTree* drafts) override {
    ++*calls_;
    drafts->clear();
    if (always_) *drafts = DraftTree::chain(std::vector<int32_t>(static_cast<size_t>(context.max_drafts), kVocab - 1));
  }

 private:
  std::shared_ptr<int> calls_;
  bool always_;
};

TEST(SpeculativeDecodingTest, SequencesThatFindNoDraftsRunAsynchronouslyAndProbeAgain) {
  const std::vector<EngineRequest> requests = {make_request("r", make_prompt(7, 3), 64)};
  for (bool always : {false, true}) {
    SCOPED_TRACE(always ? "always drafts" : "never drafts");
    auto calls = std::make_shared<int>(0);
    EngineOptions options;
    options.async_scheduling = true;
    options.worker_thread = true;
    int64_t launches = 0, overlapped = 0;
    options.on_launch = [&](int64_t collected) {
      if (collected < launches) ++overlapped;  // the step before is still on its way
      ++launches;
    };
    options.speculative.method = "ngram";
    options.speculative.num_speculative_tokens = 3;
    ASSERT_TRUE(resolve_speculative_config(&options.speculative).ok());
    options.make_draft_proposer = [calls, always] { return std::make_unique<CountingProposer>(calls, always); };
    auto engine = make_engine(options);
    const auto results = run_all(engine.get(), requests);
    EXPECT_EQ(results[0].choices.at(0).tokens, reference_greedy(requests[0].prompt_token_ids, 64));
    if (always) {
      EXPECT_EQ(overlapped, 0);  // every step drafts for the next: each waits for its tokens
    } else {
      // Four empty proposals, then one probe every kProbeInterval positions; the steps between
      // overlap.
      EXPECT_GT(overlapped, launches / 2) << launches;
      EXPECT_GE(*calls, Speculator::kDraftlessBeforeBackoff + 3);
      EXPECT_LE(*calls, Speculator::kDraftlessBeforeBackoff + 64 / Speculator::kProbeInterval + 2);
    }
  }
}

TEST(SpeculativeDecodingTest, NoDraftsAboveTheBatchSizeLimit) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 6; ++i) requests.push_back(make_request("r" + std::to_string(i), make_prompt(6, i), 4 + 6 * i));
  EngineOptions options;
  options.speculative = oracle_config(4);
  options.speculative.disable_by_batch_size = 2;
  options.make_draft_proposer = oracle_for(requests, 1.0);
  options.gate = std::make_shared<StepGate>();  // the six run together from the second step on
  auto engine = make_engine(options);
  const std::vector<RequestResult> results = run_all(engine.get(), requests, options.gate.get());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(results[i].choices.at(0).tokens, reference_greedy(requests[i].prompt_token_ids, requests[i].sampling.max_tokens));
  }
  // Six run together, so drafts start only once at most two are left: the last two requests'
  // tokens past the fourth-longest's length (22) at most, 4 + 12 of them. The first step may have
  // been scheduled before the other five were submitted (the gate holds its launch, not its
  // schedule), and then r0 drafts once, alone: 4 more at most.
  const EngineStats stats = engine->stats();
  EXPECT_GT(stats.spec_decode_num_drafts, 0);
  EXPECT_LE(stats.spec_decode_num_draft_tokens, 16 + 4);
}

// --- Sampling: the distribution of whole outputs over a four-token vocabulary. ---

constexpr int kSmallVocab = 4;
constexpr int kOutputLength = 3;

// Drafts that are right sometimes and wrong otherwise: a fixed function of the position. With
// trees, each depth has max_branches children (the pattern's token and the next ids), and the
// path grows from the first child at even depths and the last at odd ones.
class PatternProposer : public DraftProposer {
 public:
  void propose(const DraftContext& context, DraftTree* drafts) override {
    drafts->clear();
    int parent = -1;
    for (int j = 0; drafts->num_nodes() < context.max_drafts; ++j) {
      const int first = static_cast<int>((context.tokens.size() + static_cast<size_t>(j) * 3) % kSmallVocab);
      int grow = -1;
      for (int b = 0; b < context.max_branches && drafts->num_nodes() < context.max_drafts; ++b) {
        const int node = drafts->add(parent, (first + b) % kSmallVocab);
        if (b == 0 || j % 2 == 1) grow = node;
      }
      parent = grow;
    }
  }
};

// Flips a rejected verify row to its draft with probability `bias`: what an engine that favoured
// drafts would return.
class DraftFavouringExecutor : public ModelExecutor {
 public:
  DraftFavouringExecutor(std::unique_ptr<ModelExecutor> inner, double bias) : inner_(std::move(inner)), bias_(bias) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status launch(const StepInput& input) override {
    drafts_.emplace_back();
    for (const SamplingRowParams& row : input.sampling_rows) drafts_.back().push_back(row.draft_token_id);
    return inner_->launch(input);
  }
  Status collect(StepResult* result) override {
    Status status = inner_->collect(result);
    const std::vector<int32_t> drafts = std::move(drafts_.front());
    drafts_.pop_front();
    for (size_t r = 0; r < result->sampled.size(); ++r) {
      if (drafts[r] >= 0 && sampling_draw_uniform(123, draws_++) < bias_) result->sampled[r].token_id = drafts[r];
    }
    return status;
  }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  double bias_;
  std::deque<std::vector<int32_t>> drafts_;
  uint64_t draws_ = 0;
};

// The exact probability of each output of kOutputLength tokens (as a base-4 number) after
// `prompt`, sampling at temperature 1 with top_p from the fake model's logits.
std::vector<double> exact_output_distribution(const std::vector<int32_t>& prompt, float top_p) {
  FakeModelExecutor model(kSmallVocab, 1, 1);
  std::vector<double> result(static_cast<size_t>(std::pow(kSmallVocab, kOutputLength)), 0.0);
  std::function<void(std::vector<int32_t>&, int, double, int)> walk = [&](std::vector<int32_t>& history, int depth,
                                                                            double probability, int code) {
    if (depth == kOutputLength) {
      result[static_cast<size_t>(code)] += probability;
      return;
    }
    const std::vector<float> logits = model.logits_for(history);
    std::vector<double> p(kSmallVocab);
    const float max_logit = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (int v = 0; v < kSmallVocab; ++v) sum += p[v] = std::exp(static_cast<double>(logits[v] - max_logit));
    for (double& x : p) x /= sum;
    // top_p: the smallest best-first set holding top_p of the mass.
    std::vector<int> order = {0, 1, 2, 3};
    std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    double kept = 0;
    int num_kept = 0;
    while (num_kept < kSmallVocab && kept < top_p) kept += p[order[num_kept++]];
    for (int k = 0; k < num_kept; ++k) {
      const int v = order[k];
      history.push_back(v);
      walk(history, depth + 1, probability * p[v] / kept, code * kSmallVocab + v);
      history.pop_back();
    }
  };
  std::vector<int32_t> history = prompt;
  walk(history, 0, 1.0, 0);
  return result;
}

// Pearson's chi-square of the observed outputs against `expected` and whether it passes at the
// 1 - 1e-4 quantile (Wilson-Hilferty); an output of probability 0 fails outright.
bool fits(const std::vector<int>& counts, const std::vector<double>& expected, int draws, double* statistic) {
  *statistic = 0;
  int degrees = -1;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == 0) {
      if (counts[i] > 0) return false;
      continue;
    }
    const double e = expected[i] * draws;
    *statistic += (counts[i] - e) * (counts[i] - e) / e;
    ++degrees;
  }
  const double k = degrees, z = 3.719;
  const double c = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return *statistic < k * c * c * c;
}

// `topk` > 1: draft trees of 2 * (kOutputLength - 1) nodes, topk children per node.
std::vector<int> sample_outputs(const std::vector<int32_t>& prompt, float top_p, int draws, bool speculate, double bias,
                                int topk = 1) {
  EngineOptions options;
  options.vocab = kSmallVocab;
  if (speculate) {
    options.speculative = topk > 1 ? oracle_config(2 * (kOutputLength - 1), topk) : oracle_config(kOutputLength - 1);
    options.make_draft_proposer = [] { return std::make_unique<PatternProposer>(); };
  }
  if (bias > 0) {
    options.wrap_executor = [bias](std::unique_ptr<ModelExecutor> inner) {
      return std::make_unique<DraftFavouringExecutor>(std::move(inner), bias);
    };
  }
  auto engine = make_engine(options);
  std::vector<EngineRequest> requests;
  for (int i = 0; i < draws; ++i) {
    EngineRequest r = make_request("s" + std::to_string(i), prompt, kOutputLength, 1.0f);
    r.sampling.top_p = top_p;
    r.sampling.seed = 1000 + static_cast<uint64_t>(i);
    requests.push_back(std::move(r));
  }
  const std::vector<RequestResult> results = run_all(engine.get(), std::move(requests));
  std::vector<int> counts(static_cast<size_t>(std::pow(kSmallVocab, kOutputLength)), 0);
  for (const RequestResult& result : results) {
    int code = 0;
    for (int32_t t : result.choices.at(0).tokens) code = code * kSmallVocab + t;
    ++counts[static_cast<size_t>(code)];
  }
  if (speculate) {
    EXPECT_GT(engine->stats().spec_decode_num_accepted_tokens, draws / 10);
  }
  return counts;
}

TEST(SpeculativeSamplingDistributionTest, OutputsFollowTheTargetWithAndWithoutSpeculation) {
  const std::vector<int32_t> prompt = {1, 3, 0, 2};
  const int draws = 6000;
  for (float top_p : {1.0f, 0.8f}) {
    SCOPED_TRACE("top_p " + std::to_string(top_p));
    const std::vector<double> expected = exact_output_distribution(prompt, top_p);
    double statistic = 0;
    EXPECT_TRUE(fits(sample_outputs(prompt, top_p, draws, false, 0), expected, draws, &statistic)) << statistic;
    EXPECT_TRUE(fits(sample_outputs(prompt, top_p, draws, true, 0), expected, draws, &statistic)) << statistic;
    // The same test fails an engine that accepts a rejected draft one time in ten.
    EXPECT_FALSE(fits(sample_outputs(prompt, top_p, draws, true, 0.1), expected, draws, &statistic)) << statistic;
    // Draft trees: the acceptance walk keeps the distribution, and the test fails a walk that
    // descends into a node's first child one time in ten whatever the row sampled.
    EXPECT_TRUE(fits(sample_outputs(prompt, top_p, draws, true, 0, 2), expected, draws, &statistic)) << statistic;
    EXPECT_FALSE(fits(sample_outputs(prompt, top_p, draws, true, 0.1, 2), expected, draws, &statistic)) << statistic;
  }
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

TEST(SpecDecodeLogTest, VllmsLineForWhatTheIntervalDrafted) {
  SpecDecodeCounters before{10, 40, 20, {9, 6, 3, 2}};
  SpecDecodeCounters now{20, 80, 35, {17, 10, 6, 2}};
  const auto line = format_spec_decode_line(now, before, 2.0);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line,
            "SpecDecoding metrics: Mean acceptance length: 2.50, Accepted throughput: 7.50 tokens/s, Drafted "
            "throughput: 20.00 tokens/s, Accepted: 15 tokens, Drafted: 40 tokens, Per-position acceptance rate: "
            "0.800, 0.400, 0.300, 0.000, Avg Draft acceptance rate: 37.5%");
  EXPECT_FALSE(format_spec_decode_line(now, now, 2.0).has_value());
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

TEST(SpeculativeBenchmarkTest, TheBaseRunRecordsTheOracleAndTheSpeculativeRunCountsEveryToken) {
  // What `kiln bench latency --speculative-config '{"method": "oracle", ...}'` does: a greedy run
  // without drafts records the outputs, then the same requests run with the oracle drafting them.
  auto recordings = std::make_shared<OracleRecordings>();
  EngineOptions options;
  options.speculative = oracle_config(4);
  options.make_draft_proposer = [recordings] { return std::make_unique<OracleProposer>(recordings, 1.0, 1); };
  options.step_delay_ms = 1;  // gaps measurable
  auto engine = make_engine(options);
  ThroughputBenchmarkOptions bench;
  bench.num_prompts = 3;
  bench.input_len = 12;
  bench.output_len = 21;
  bench.vocab_size = kVocab;
  bench.show_progress = false;
  bench.temperature = 0.0f;
  bench.seed = 5;
  ThroughputBenchmarkOptions base = bench;
  base.speculative = false;
  base.keep_tokens = true;
  auto plain = run_throughput_benchmark(engine.get(), base);
  ASSERT_TRUE(plain.ok()) << plain.message();
  ASSERT_EQ(plain->outputs.size(), 3u);
  EXPECT_EQ(engine->stats().spec_decode_num_drafts, 0);  // the base run never drafts
  EXPECT_EQ(plain->itl_ms.mean > 0, true);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plain->outputs[i], reference_greedy(plain->prompts[i], 21));
    recordings->record(plain->prompts[i], plain->outputs[i]);
  }
  bench.keep_tokens = true;
  auto spec = run_throughput_benchmark(engine.get(), bench);
  ASSERT_TRUE(spec.ok()) << spec.message();
  EXPECT_EQ(spec->outputs, plain->outputs);
  EXPECT_EQ(spec->output_tokens, 63);
  // Drafts are all accepted: five tokens a step, and the per-token gaps still number 20 a request.
  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.spec_decode_num_accepted_tokens, stats.spec_decode_num_draft_tokens);
  EXPECT_EQ(stats.spec_decode_num_accepted_tokens, 3 * 16);  // 20 tokens after the first: 4 steps of 4 drafts
  EXPECT_LT(spec->itl_ms.mean, plain->itl_ms.mean);
}

}  // namespace
}  // namespace kiln::testing
