// Structured outputs in the engine: a sequence with a grammar samples under its token mask, so
// greedy decoding gives exactly the tokens of a reference that takes the best allowed token after
// each prefix, with steps batched, overlapped (async scheduling), or recomputed after preemption.
// The constraint may start after a given token; a grammar that leaves nothing to sample fails the
// request instead of writing a token it does not allow.
#include <gtest/gtest.h>

#include <regex>

#include "engine_test_util.h"
#include "grammar/grammar_compiler.h"
#include "grammar/grammar_matcher.h"

namespace kiln::testing {
namespace {

constexpr int32_t kEos = kVocab - 1;

// The fake detokenizer's pieces as the grammar's vocabulary, with kEos ending generation.
std::shared_ptr<const grammar::Vocabulary> fake_vocabulary() {
  std::vector<std::string> bytes;
  for (int32_t t = 0; t < kVocab; ++t) bytes.push_back(t == kEos ? "" : piece(t));
  return grammar::Vocabulary::create(std::move(bytes), {}, {kEos});
}

std::shared_ptr<const grammar::CompiledGrammar> compile_regex(const std::string& regex) {
  static grammar::GrammarCompiler compiler(fake_vocabulary());
  grammar::GrammarSpec spec;
  spec.kind = grammar::GrammarKind::kRegex;
  spec.text = regex;
  auto result = compiler.compile(spec);
  EXPECT_TRUE(result.ok()) << result.message();
  return result.value();
}

// Greedy over the fake model's logits, each step restricted to the tokens the grammar allows
// (after `after_token`, when given).
std::vector<int32_t> reference_constrained_greedy(const std::vector<int32_t>& prompt, int max_tokens,
                                                  std::shared_ptr<const grammar::CompiledGrammar> grammar,
                                                  int32_t after_token = -1) {
  FakeModelExecutor model(kVocab, 1, 1);
  grammar::GrammarMatcher matcher(std::move(grammar));
  std::vector<uint32_t> mask(static_cast<size_t>((kVocab + 31) / 32));
  bool constrained = after_token < 0;
  std::vector<int32_t> history = prompt;
  std::vector<int32_t> out;
  for (int i = 0; i < max_tokens; ++i) {
    if (constrained) matcher.fill_next_token_bitmask(mask);
    const auto logits = model.logits_for(history);
    int32_t best = -1;
    for (int32_t v = 0; v < kVocab; ++v) {
      if (constrained && !(mask[static_cast<size_t>(v) / 32] >> (v % 32) & 1u)) continue;
      if (best < 0 || logits[v] > logits[best]) best = v;
    }
    out.push_back(best);
    history.push_back(best);
    if (best == kEos) break;
    if (constrained) {
      EXPECT_TRUE(matcher.accept_token(best));
    }
    if (best == after_token) constrained = true;
  }
  return out;
}

EngineOptions with_eos(EngineOptions options) {
  options.defaults.eos_token_ids = {kEos};
  return options;
}

std::string text_before_eos(const std::vector<int32_t>& tokens) {
  std::vector<int32_t> text(tokens.begin(), tokens.end());
  if (!text.empty() && text.back() == kEos) text.pop_back();
  return text_of(text);
}

const char* const kRegex = "[a-f]{2,6}( [g-m]+)?x";

std::vector<EngineRequest> constrained_requests(int count, int max_tokens) {
  auto grammar = compile_regex(kRegex);
  std::vector<EngineRequest> requests;
  for (int i = 0; i < count; ++i) {
    EngineRequest r = make_request("g" + std::to_string(i), make_prompt(5 + 3 * i, 60 + i), max_tokens);
    r.sampling.grammar = grammar;
    requests.push_back(std::move(r));
  }
  return requests;
}

void expect_reference_outputs(const std::vector<EngineRequest>& requests, const std::vector<RequestResult>& results) {
  ASSERT_EQ(requests.size(), results.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_EQ(results[i].error, "");
    const ChoiceResult& choice = results[i].choices.at(0);
    const auto expected = reference_constrained_greedy(requests[i].prompt_token_ids,
                                                       requests[i].sampling.max_tokens, requests[i].sampling.grammar);
    EXPECT_EQ(choice.tokens, expected);
    if (choice.finish_reason == FinishReason::kStop) {
      EXPECT_TRUE(std::regex_match(text_before_eos(choice.tokens), std::regex(kRegex))) << text_of(choice.tokens);
    }
  }
}

TEST(EngineGrammarTest, GreedyOutputsAreTheBestAllowedTokens) {
  const auto requests = constrained_requests(6, 40);
  const auto results = run_all(make_engine(with_eos({})).get(), requests);
  expect_reference_outputs(requests, results);
  int stopped = 0;
  for (const RequestResult& r : results) stopped += r.choices.at(0).finish_reason == FinishReason::kStop;
  EXPECT_GT(stopped, 0) << "no output reached the end of the grammar";
}

TEST(EngineGrammarTest, AsyncSchedulingGivesTheSameOutputs) {
  auto requests = constrained_requests(6, 40);
  // Free requests share the steps: they may overlap, the constrained ones wait for their tokens.
  for (int i = 0; i < 3; ++i) requests.push_back(make_request("f" + std::to_string(i), make_prompt(9, 90 + i), 20));
  const auto results = run_all(make_engine(with_eos({.async_scheduling = true, .worker_thread = true})).get(), requests);
  const std::vector<EngineRequest> constrained(requests.begin(), requests.begin() + 6);
  expect_reference_outputs(constrained, {results.begin(), results.begin() + 6});
  for (int i = 6; i < 9; ++i) {
    std::vector<int32_t> expected = reference_greedy(requests[i].prompt_token_ids, 20);
    const auto eos = std::find(expected.begin(), expected.end(), kEos);
    if (eos != expected.end()) expected.erase(eos + 1, expected.end());
    EXPECT_EQ(results[i].choices.at(0).tokens, expected);
  }
}

TEST(EngineGrammarTest, PreemptedSequencesKeepTheirConstraint) {
  // Eight sequences of 20 + 30 tokens need 4 blocks each; the cache has 10, so some are
  // recomputed while their matchers have advanced.
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 8; ++i) {
    EngineRequest r = make_request("p" + std::to_string(i), make_prompt(20, 40 + i), 30);
    r.sampling.grammar = compile_regex("([a-e]|[k-o] ?)*");
    requests.push_back(std::move(r));
  }
  auto gate = std::make_shared<StepGate>();
  auto engine = make_engine(with_eos({.num_blocks = 10, .max_num_batched_tokens = 64, .gate = gate}));
  const auto results = run_all(engine.get(), requests, gate.get());
  EXPECT_GT(engine->stats().num_preemptions_total, 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(results[i].choices.at(0).tokens,
              reference_constrained_greedy(requests[i].prompt_token_ids, 30, requests[i].sampling.grammar))
        << i;
  }
}

TEST(EngineGrammarTest, SampledChoicesEachFollowTheGrammar) {
  EngineRequest r = make_request("n", make_prompt(7, 3), 40, 1.0f);
  r.sampling.grammar = compile_regex(kRegex);
  r.sampling.n = 4;
  r.sampling.seed = 11;
  const RequestResult result = run_alone(r, with_eos({}));
  ASSERT_EQ(result.choices.size(), 4u);
  for (const auto& [index, choice] : result.choices) {
    grammar::GrammarMatcher matcher(r.sampling.grammar);
    for (int32_t t : choice.tokens) EXPECT_TRUE(matcher.accept_token(t)) << "choice " << index;
    if (choice.finish_reason == FinishReason::kStop) {
      EXPECT_TRUE(std::regex_match(text_before_eos(choice.tokens), std::regex(kRegex))) << text_of(choice.tokens);
    }
  }
}

TEST(EngineGrammarTest, ConstraintStartsAfterTheGivenToken) {
  const std::vector<int32_t> prompt = make_prompt(6, 5);
  const std::vector<int32_t> free = reference_greedy(prompt, 8);
  const int32_t marker = free[2];  // the free output reaches it at its third token
  EngineRequest r = make_request("t", prompt, 30);
  r.sampling.grammar = compile_regex(kRegex);
  r.sampling.grammar_after_token = marker;
  const RequestResult result = run_alone(r, with_eos({}));
  const std::vector<int32_t>& tokens = result.choices.at(0).tokens;
  EXPECT_EQ(tokens, reference_constrained_greedy(prompt, 30, r.sampling.grammar, marker));
  const auto start = std::find(tokens.begin(), tokens.end(), marker);
  ASSERT_NE(start, tokens.end());
  EXPECT_EQ(std::vector<int32_t>(tokens.begin(), start), std::vector<int32_t>(free.begin(), free.begin() + (start - tokens.begin())));
  grammar::GrammarMatcher matcher(r.sampling.grammar);
  for (auto t = start + 1; t != tokens.end(); ++t) EXPECT_TRUE(matcher.accept_token(*t));
}

TEST(EngineGrammarTest, WithIgnoreEosTheOutputIsFreeAfterTheGrammarEnds) {
  // As vLLM: the grammar allows the end after "ab"; a sequence that ignores it goes on freely.
  EngineRequest r = make_request("e", make_prompt(5, 2), 12);
  r.sampling.grammar = compile_regex("ab");
  r.sampling.ignore_eos = true;
  const RequestResult result = run_alone(r, with_eos({}));
  EXPECT_EQ(result.error, "");
  const std::vector<int32_t>& tokens = result.choices.at(0).tokens;
  ASSERT_EQ(tokens.size(), 12u);
  EXPECT_EQ(text_of({tokens.begin(), tokens.begin() + 2}), "ab");
  EXPECT_EQ(tokens[2], kEos);
  std::vector<int32_t> history = r.prompt_token_ids;
  history.insert(history.end(), tokens.begin(), tokens.begin() + 3);
  EXPECT_EQ(std::vector<int32_t>(tokens.begin() + 3, tokens.end()), reference_greedy(history, 9));
}

TEST(EngineGrammarTest, NothingAllowedFailsTheRequest) {
  // After "ab" the grammar allows only the end of generation, which min_tokens blocks.
  EngineRequest r = make_request("x", make_prompt(5, 1), 10);
  r.sampling.grammar = compile_regex("ab");
  r.sampling.min_tokens = 5;
  auto engine = make_engine(with_eos({}));
  const RequestResult result = run_all(engine.get(), {r})[0];
  EXPECT_NE(result.error.find("allows no next token"), std::string::npos) << result.error;
  // The engine keeps serving.
  EngineRequest next = make_request("y", make_prompt(5, 1), 10);
  next.sampling.grammar = compile_regex("ab");
  const RequestResult ok = run_all(engine.get(), {next})[0];
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(text_before_eos(ok.choices.at(0).tokens), "ab");
  EXPECT_EQ(ok.choices.at(0).finish_reason, FinishReason::kStop);
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

TEST(EngineGrammarTest, SpeculativeDecodingLeavesConstrainedSequencesUndrafted) {
  auto requests = constrained_requests(4, 30);
  std::vector<EngineRequest> free;
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> prompt;
    for (int r = 0; r < 4; ++r) {
      for (int t = 0; t < 6; ++t) prompt.push_back((t * 17 + i) % kVocab);
    }
    requests.push_back(make_request("free" + std::to_string(i), prompt, 20));
  }
  EngineOptions options = with_eos({});
  options.speculative.method = "ngram";
  options.speculative.num_speculative_tokens = 3;
  options.speculative.prompt_lookup_min = 1;
  ASSERT_TRUE(resolve_speculative_config(&options.speculative).ok());
  const auto results = run_all(make_engine(options).get(), requests);
  const std::vector<EngineRequest> constrained(requests.begin(), requests.begin() + 4);
  expect_reference_outputs(constrained, {results.begin(), results.begin() + 4});
  for (size_t i = 4; i < requests.size(); ++i) {
    std::vector<int32_t> expected = reference_greedy(requests[i].prompt_token_ids, 20);
    const auto eos = std::find(expected.begin(), expected.end(), kEos);
    if (eos != expected.end()) expected.erase(eos + 1, expected.end());
    EXPECT_EQ(results[i].choices.at(0).tokens, expected);
  }
}

}  // namespace
}  // namespace kiln::testing
