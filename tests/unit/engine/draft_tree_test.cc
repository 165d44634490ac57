// Speculative draft trees (engine/spec/draft_tree.h): the acceptance walk, the K/V moves of the
// accepted path, n-gram trees from several earlier matches, and whole-engine greedy exactness
// with trees over the fake model (whose rows read each node's own path, and whose K/V moves are
// real: a wrong move or mask changes the tokens).
#include <gtest/gtest.h>

#include "engine/spec/ngram_proposer.h"
#include "engine/spec/oracle_proposer.h"
#include "engine_test_util.h"

namespace kiln::testing {
namespace {

std::vector<SampledRow> rows_of(const std::vector<int32_t>& tokens) {
  std::vector<SampledRow> rows(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) rows[i].token_id = tokens[i];
  return rows;
}

TEST(DraftTreeTest, BuildsChecksAndMeasuresTrees) {
  DraftTree tree;
  EXPECT_EQ(tree.add(-1, 5), 0);
  EXPECT_EQ(tree.add(-1, 6), 1);
  EXPECT_EQ(tree.add(-1, 5), 0);  // the same child again
  EXPECT_EQ(tree.add(1, 7), 2);
  EXPECT_EQ(tree.add(2, 8), 3);
  EXPECT_EQ(tree.parents, (std::vector<int32_t>{-1, -1, 1, 2}));
  EXPECT_EQ(tree.depth(0), 1);
  EXPECT_EQ(tree.depth(3), 3);
  EXPECT_EQ(tree.first_child(-1), 0);
  EXPECT_EQ(tree.first_child(1), 2);
  EXPECT_EQ(tree.first_child(0), -1);
  EXPECT_FALSE(tree.is_chain());
  EXPECT_STREQ(draft_tree_error(tree), "");
  const DraftTree chain = DraftTree::chain(std::vector<int32_t>{3, 3, 4});
  EXPECT_TRUE(chain.is_chain());
  EXPECT_EQ(chain.parents, (std::vector<int32_t>{-1, 0, 1}));
  DraftTree cut = tree;
  cut.truncate(2);
  EXPECT_EQ(cut.num_nodes(), 2);
  EXPECT_STREQ(draft_tree_error(cut), "");
  DraftTree bad = tree;
  bad.parents[1] = 1;
  EXPECT_STREQ(draft_tree_error(bad), "a node's parent does not precede it");
  bad = tree;
  bad.tokens[1] = 5;
  EXPECT_STREQ(draft_tree_error(bad), "two siblings draft the same token");
}

TEST(DraftTreeTest, TheWalkFollowsTheSampledChildrenAndStopsAtTheFirstMiss) {
  // Root children 0 (token 5) and 1 (6); node 2 (7) under 1, node 3 (8) and node 4 (9) under 2.
  DraftTree tree;
  tree.tokens = {5, 6, 7, 8, 9};
  tree.parents = {-1, -1, 1, 2, 2};
  // Rows: root, then nodes 0..4. The root samples 6 (node 1), node 1 samples 7 (node 2), node 2
  // samples 9 (node 4), node 4 samples 3: no child, the bonus.
  EXPECT_EQ(accept_draft_tree(tree, rows_of({6, 1, 7, 9, 1, 3})), (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(accept_draft_tree(tree, rows_of({6, 1, 7, 8, 1, 3})), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(accept_draft_tree(tree, rows_of({5, 6, 7, 9, 1, 3})), (std::vector<int>{0}));  // node 0 is a leaf
  EXPECT_TRUE(accept_draft_tree(tree, rows_of({7, 1, 7, 9, 1, 3})).empty());  // 7 is no child of the root
  // A chain: the leading drafts that match, as plain verification counts them.
  const DraftTree chain = DraftTree::chain(std::vector<int32_t>{4, 4, 2});
  EXPECT_EQ(accept_draft_tree(chain, rows_of({4, 4, 1, 0})), (std::vector<int>{0, 1}));
  EXPECT_EQ(accept_draft_tree(chain, rows_of({4, 4, 2, 0})), (std::vector<int>{0, 1, 2}));
}

TEST(DraftTreeTest, TheAcceptedPathsKvMovesToConsecutivePositions) {
  // Root at position 10; nodes in the slots of positions 11.. by index. Path 1, 2, 4: positions
  // 12, 13, 15 move to 11, 12, 13, each source past the earlier destinations.
  const std::vector<int> path = {1, 2, 4};
  EXPECT_EQ(accepted_kv_moves(10, path), (std::vector<std::pair<int, int>>{{12, 11}, {13, 12}, {15, 13}}));
  const std::vector<int> prefix = {0, 1, 3};  // nodes already in place need no move
  EXPECT_EQ(accepted_kv_moves(10, prefix), (std::vector<std::pair<int, int>>{{14, 13}}));
  EXPECT_TRUE(accepted_kv_moves(10, std::vector<int>{0, 1, 2}).empty());  // a chain's path
}

TEST(NgramDraftTreeTest, BranchesAtTheDifferentEarlierMatches) {
  // The suffix (1, 2) occurred three times, followed by 3 4, 5 6 and 3 4 7: with two branches the
  // earliest (3 4) and the next different one (5 6) grow a token at a time.
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 0, 1, 2, 5, 6, 0, 1, 2, 3, 4, 7, 1, 2};
  const DraftTree tree = find_ngram_draft_tree(tokens, 1, 2, 4, 2);
  EXPECT_EQ(tree.tokens, (std::vector<int32_t>{3, 5, 4, 6}));
  EXPECT_EQ(tree.parents, (std::vector<int32_t>{-1, -1, 0, 1}));
  // One branch: exactly the chain prompt lookup drafts.
  const DraftTree chain = find_ngram_draft_tree(tokens, 1, 2, 4, 1);
  EXPECT_TRUE(chain.is_chain());
  EXPECT_EQ(chain.tokens, find_ngram_drafts(tokens, 1, 2, 4));
  // Three branches: the third match (3 4 7) repeats the first's start and branches below it; the
  // budget stops the growth.
  const DraftTree three = find_ngram_draft_tree(tokens, 1, 2, 5, 3);
  EXPECT_EQ(three.tokens, (std::vector<int32_t>{3, 5, 4, 6, 0}));
  EXPECT_EQ(three.parents, (std::vector<int32_t>{-1, -1, 0, 1, 2}));
  EXPECT_STREQ(draft_tree_error(three), "");
  EXPECT_TRUE(find_ngram_draft_tree(std::vector<int32_t>{1, 2, 3}, 1, 2, 4, 2).empty());
}

// Counts the steps that fed a tree and the K/V moves the engine sent.
class TreeCountingExecutor : public ModelExecutor {
 public:
  TreeCountingExecutor(std::unique_ptr<ModelExecutor> inner, std::shared_ptr<std::pair<int, int>> counts)
      : inner_(std::move(inner)), counts_(std::move(counts)) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status launch(const StepInput& input) override {
    counts_->first += input.batch.tree_parents.empty() ? 0 : 1;
    counts_->second += static_cast<int>(input.batch.kv_move_from.size());
    return inner_->launch(input);
  }
  Status collect(StepResult* result) override { return inner_->collect(result); }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  std::shared_ptr<std::pair<int, int>> counts_;
};

SpeculativeConfig tree_config(const std::string& method, int k, int topk) {
  SpeculativeConfig c;
  c.method = method;
  c.num_speculative_tokens = k;
  c.draft_tree_topk = topk;
  if (method == "ngram") {
    c.prompt_lookup_min = 1;
    c.prompt_lookup_max = 2;
  }
  EXPECT_TRUE(resolve_speculative_config(&c).ok()) << resolve_speculative_config(&c).message();
  return c;
}

TEST(DraftTreeEngineTest, GreedyOutputsAreThePlainOnesWithOracleTrees) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 5; ++i) requests.push_back(make_request("r" + std::to_string(i), make_prompt(5 + 4 * i, i), 24 - i));
  std::vector<OracleRecording> recordings;
  for (const EngineRequest& r : requests) recordings.push_back({r.prompt_token_ids, reference_greedy(r.prompt_token_ids, r.sampling.max_tokens)});
  struct Run {
    const char* name;
    double rate;
    bool async;
    int num_blocks;
  };
  for (const Run& run : {Run{"all right", 1.0, false, 256}, Run{"some right", 0.6, false, 256}, Run{"async", 0.6, true, 256},
                         Run{"preempting", 0.6, false, 12}}) {
    SCOPED_TRACE(run.name);
    EngineOptions options;
    options.speculative = tree_config("oracle", 6, 3);
    options.make_draft_proposer = [recordings, rate = run.rate] { return std::make_unique<OracleProposer>(recordings, rate, 5); };
    options.async_scheduling = run.async;
    options.num_blocks = run.num_blocks;
    options.block_size = 4;
    auto counts = std::make_shared<std::pair<int, int>>(0, 0);
    options.wrap_executor = [counts](std::unique_ptr<ModelExecutor> inner) {
      return std::make_unique<TreeCountingExecutor>(std::move(inner), counts);
    };
    auto engine = make_engine(options);
    const auto results = run_all(engine.get(), requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(results[i].error, "");
      EXPECT_EQ(results[i].choices.at(0).tokens, recordings[i].output) << i;
    }
    const EngineStats stats = engine->stats();
    EXPECT_GT(stats.spec_decode_num_accepted_tokens, 0);
    EXPECT_GT(counts->first, 0);   // steps verified trees
    EXPECT_GT(counts->second, 0);  // and moved accepted nodes into place
    if (run.rate == 1.0) {
      // Two of every three nodes are wrong siblings: about a third of the drafted tokens are
      // accepted (less where the room left cuts a depth short).
      EXPECT_GT(stats.spec_decode_num_accepted_tokens * 4, stats.spec_decode_num_draft_tokens);
    }
    if (run.num_blocks == 12) {
      EXPECT_GT(stats.num_preemptions_total, 0);
    }
  }
}

TEST(DraftTreeEngineTest, NgramTreesOnRepetitiveTextKeepGreedyOutputs) {
  // Prompts that repeat several phrases after the same pair of tokens: the lookup finds
  // different continuations of the last pair, and trees hold more than one of them.
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> prompt;
    for (int r = 0; r < 6; ++r) {
      prompt.insert(prompt.end(), {1, 2});
      for (int t = 0; t < 3; ++t) prompt.push_back((r % 3 * 5 + t * 3 + i) % kVocab + 3);
    }
    requests.push_back(make_request("n" + std::to_string(i), prompt, 40));
  }
  for (int topk : {1, 3}) {
    SCOPED_TRACE("topk " + std::to_string(topk));
    EngineOptions options;
    options.speculative = tree_config("ngram", 6, topk);
    auto counts = std::make_shared<std::pair<int, int>>(0, 0);
    options.wrap_executor = [counts](std::unique_ptr<ModelExecutor> inner) {
      return std::make_unique<TreeCountingExecutor>(std::move(inner), counts);
    };
    auto engine = make_engine(options);
    const auto results = run_all(engine.get(), requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(results[i].choices.at(0).tokens, reference_greedy(requests[i].prompt_token_ids, 40)) << i;
    }
    // The fake model's text is random: drafts are rarely right (the oracle test has them right).
    EXPECT_GT(engine->stats().spec_decode_num_draft_tokens, 0);
    EXPECT_EQ(counts->first > 0, topk > 1);  // trees only when asked for
  }
}

}  // namespace
}  // namespace kiln::testing
