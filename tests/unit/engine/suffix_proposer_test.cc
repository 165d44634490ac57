// Suffix decoding's drafts (engine/spec/suffix_proposer.h): the most frequent continuation of the
// longest match, bounded by the match length, the tree depth and the estimated probability, from
// the sequence's own text and from recent requests' outputs; and the engine's greedy outputs with it.
#include "engine/spec/suffix_proposer.h"

#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace kiln::testing {
namespace {

using Tokens = std::vector<int32_t>;

SuffixDraft draft_of(const Tokens& corpus_text, const Tokens& context, int max_drafts, SuffixDecodingParams params = {}) {
  SuffixCorpus corpus;
  corpus.append(1, corpus_text);
  return corpus.draft(context, max_drafts, params);
}

TEST(SuffixCorpusTest, DraftsTheMostFrequentContinuationOfTheLongestMatch) {
  // "1 2" was followed by 3 twice and by 9 once: 3, with probability 2/3.
  const Tokens text = {1, 2, 3, 4, 1, 2, 9, 5, 1, 2, 3, 4};
  SuffixDraft d = draft_of(text, {7, 1, 2}, 8);
  EXPECT_EQ(d.tokens, (Tokens{3, 4}));  // a match of 2 drafts at most 2 x max_spec_factor 1.0
  EXPECT_NEAR(d.score, 2 * 2.0 / 3.0, 1e-9);
  // Further, the occurrence at the text's end halves the probability: 1/3 for "1 2".
  d = draft_of(text, {7, 1, 2}, 8, {24, 0, 2.0, 0.1});
  EXPECT_EQ(d.tokens, (Tokens{3, 4, 1, 2}));
  EXPECT_NEAR(d.score, 2.0 / 3 + 2.0 / 3 + 1.0 / 3 + 1.0 / 3, 1e-9);
  // A longer match is more specific: "9 5 1 2" continues with 3 4 (its only occurrence).
  d = draft_of(text, {9, 5, 1, 2}, 8);
  EXPECT_EQ(d.tokens, (Tokens{3, 4}));
  // min_token_prob: 2/3 falls below 0.7, nothing drafts.
  EXPECT_TRUE(draft_of(text, {7, 1, 2}, 8, {24, 0, 2.0, 0.7}).tokens.empty());
  // The tree depth bounds match plus draft: a match of 2 at depth 3 drafts one token.
  EXPECT_EQ(draft_of(text, {7, 1, 2}, 8, {3, 0, 4.0, 0.1}).tokens, (Tokens{3}));
  // No earlier occurrence of the last pair: nothing.
  EXPECT_TRUE(draft_of(text, {4, 4}, 8).tokens.empty());
  EXPECT_TRUE(draft_of(text, {2}, 8).tokens.empty());
}

TEST(SuffixCorpusTest, AnOccurrenceAtTheEndOfItsTextLowersTheProbability) {
  // "5 6" occurs twice, once at the very end: 7 has probability 1/2.
  SuffixCorpus corpus;
  corpus.append(1, Tokens{5, 6, 7, 8});
  corpus.append(2, Tokens{3, 5, 6});
  SuffixDecodingParams params;
  params.max_spec_factor = 4;
  const SuffixDraft d = corpus.draft(Tokens{5, 6}, 4, params);
  EXPECT_EQ(d.tokens, (Tokens{7, 8}));
  EXPECT_NEAR(d.score, 1.0, 1e-9);  // 1/2 + 1/2
  corpus.remove(1);
  EXPECT_TRUE(corpus.draft(Tokens{5, 6}, 4, params).tokens.empty());
}

TEST(SuffixProposerTest, DraftsFromItsOwnTextAndFromFinishedRequests) {
  SuffixDecodingParams params;
  params.max_spec_factor = 2.0;
  params.max_cached_requests = 1;
  SuffixProposer proposer(params);
  // Its own text, never the match that is the context itself.
  const Tokens own = {10, 11, 12, 13, 10, 11};
  DraftTree drafts;
  proposer.propose({1, own, 2, 5}, &drafts);
  EXPECT_EQ(drafts.tokens, (Tokens{12, 13, 10, 11}));
  EXPECT_TRUE(drafts.is_chain());
  const Tokens alone = {10, 11};
  proposer.propose({2, alone, 2, 5}, &drafts);
  EXPECT_TRUE(drafts.empty());
  // A finished request's output informs another sequence; its prompt does not.
  const Tokens finished = {40, 41, 42, 20, 21, 22, 23, 24};
  proposer.on_finished({3, finished, 3, 0}, true);
  const Tokens prompt_pair = {7, 40, 41};
  proposer.propose({4, prompt_pair, 3, 5}, &drafts);
  EXPECT_TRUE(drafts.empty());
  const Tokens other = {9, 20, 21};
  proposer.propose({5, other, 1, 5}, &drafts);
  EXPECT_EQ(drafts.tokens, (Tokens{22, 23, 24}));
  EXPECT_TRUE(drafts.is_chain());
  // An aborted request's output is not kept; with one cached request the older one goes.
  proposer.on_finished({6, Tokens{0, 30, 31, 32}, 1, 0}, false);
  proposer.propose({7, Tokens{9, 20, 21}, 1, 5}, &drafts);
  EXPECT_EQ(drafts.tokens, (Tokens{22, 23, 24}));
  EXPECT_TRUE(drafts.is_chain());
  proposer.on_finished({8, Tokens{0, 50, 51, 52}, 1, 0}, true);
  proposer.propose({9, Tokens{9, 20, 21}, 1, 5}, &drafts);
  EXPECT_TRUE(drafts.empty());
  proposer.propose({10, Tokens{9, 50, 51}, 1, 5}, &drafts);
  EXPECT_EQ(drafts.tokens, (Tokens{52}));
  EXPECT_TRUE(drafts.is_chain());
}

TEST(SuffixProposerTest, TreesGrowBestFirstOverTheFrequentContinuations) {
  SuffixDecodingParams params;
  params.max_spec_factor = 2.0;
  params.max_cached_requests = 0;
  // (1, 2) continued by 10 11 9, 10 11 8 and 20 21 7 earlier: 10 (2/3) then 11 (2/3), then 20
  // and 8 (1/3 each; 20 comes first as the root's child, 8 before 9 as the more recent).
  const Tokens text = {1, 2, 10, 11, 9, 1, 2, 10, 11, 8, 1, 2, 20, 21, 7, 1, 2};
  SuffixProposer proposer(params);
  DraftTree tree;
  proposer.propose({1, text, 2, 4, 2}, &tree);
  EXPECT_EQ(tree.tokens, (Tokens{10, 11, 20, 8}));
  EXPECT_EQ(tree.parents, (std::vector<int32_t>{-1, 0, -1, 1}));
  // One branch: the chain of the most frequent continuation, as before trees.
  SuffixProposer chain_proposer(params);
  chain_proposer.propose({2, text, 2, 4, 1}, &tree);
  EXPECT_EQ(tree.tokens, (Tokens{10, 11, 8, 1}));
  EXPECT_TRUE(tree.is_chain());
  // The probability floor holds for trees too: at 0.5 only the 2/3 branch is drafted.
  params.min_token_prob = 0.5;
  SuffixProposer strict(params);
  strict.propose({3, text, 2, 4, 3}, &tree);
  EXPECT_EQ(tree.tokens, (Tokens{10, 11}));
}

TEST(SuffixProposerTest, TheEngineGivesGreedyOutputsAndDraftsOnRepeatedText) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> prompt;
    for (int r = 0; r < 5; ++r) {
      for (int t = 0; t < 7; ++t) prompt.push_back((t * 13 + i * 3) % kVocab);
    }
    requests.push_back(make_request("suffix" + std::to_string(i), prompt, 25));
  }
  for (int topk : {1, 2}) {  // chains, and trees over the two most frequent continuations
    SCOPED_TRACE("draft_tree_topk " + std::to_string(topk));
    EngineOptions options;
    options.speculative.method = "suffix";
    options.speculative.num_speculative_tokens = 5;
    options.speculative.draft_tree_topk = topk;
    ASSERT_TRUE(resolve_speculative_config(&options.speculative).ok());
    auto engine = make_engine(options);
    const std::vector<RequestResult> results = run_all(engine.get(), requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(results[i].choices.at(0).tokens, reference_greedy(requests[i].prompt_token_ids, 25)) << i;
    }
    // The same requests again: the first round's outputs are cached, and drafts now match them.
    std::vector<EngineRequest> again = requests;
    for (EngineRequest& r : again) r.request_id += "-again";
    const int64_t accepted_before = engine->stats().spec_decode_num_accepted_tokens;
    const std::vector<RequestResult> second = run_all(engine.get(), again);
    for (size_t i = 0; i < again.size(); ++i) EXPECT_EQ(second[i].choices.at(0).tokens, results[i].choices.at(0).tokens);
    EXPECT_GT(engine->stats().spec_decode_num_accepted_tokens - accepted_before, 40);
  }
}

}  // namespace
}  // namespace kiln::testing
