// EAGLE-3 speculative decoding over the real CPU forward: a tiny random-weight Llama and a
// random head of the published format (both from `kiln synth`). The head drafts after every
// step from the target's captured hidden states, the verify steps check the drafts, and the
// greedy tokens and logprobs are those of plain decoding, with chunked prefill, prefix caching,
// preemption and async scheduling, with chains and with top-k trees; every sequence's draft cache
// is gone when it finishes; a tree's accepted path feeds the head as a chain's would.
#include <gtest/gtest.h>

#include <filesystem>

#include "cpu_engine_test_util.h"
#include "engine/cpu_model_executor.h"
#include "model/cpu_eagle3_drafter.h"
#include "model/eagle3_head.h"
#include "model/synth_eagle3_head.h"

namespace kiln::testing {
namespace {

class EngineCpuEagle3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto llama = TinyLlama::create("kiln_engine_cpu_eagle3_", "target");
    ASSERT_TRUE(llama.ok()) << llama.message();
    llama_ = std::move(llama).value().release();
    SynthEagle3HeadOptions head;
    head.config_path = std::filesystem::path(KILN_SOURCE_DIR) / "tests/data/configs/tiny-eagle3-head.json";
    head.out_dir = head_dir();
    head.dtype = DType::kF32;
    head.stddev = 0.5;
    auto head_report = synth_eagle3_head(head);
    ASSERT_TRUE(head_report.ok()) << head_report.message();
  }
  static void TearDownTestSuite() { delete llama_; }
  static std::filesystem::path head_dir() { return llama_->dir.path() / "head"; }

  // An engine over the CPU model; with `eagle3`, the head drafts up to 3 tokens (a tree of 4 with
  // topk children per node when topk > 1).
  std::unique_ptr<Engine> engine(int num_blocks, bool async_scheduling, bool eagle3, bool prefix_caching, int topk = 1) {
    const LoadedModel& model = *llama_->model;
    CpuEngineOptions engine_options;
    engine_options.num_blocks = num_blocks;
    engine_options.async_scheduling = async_scheduling;
    engine_options.enable_prefix_caching = prefix_caching;
    CpuModelOptions options = cpu_model_options(model.config, engine_options);
    std::unique_ptr<CpuEagle3Drafter> drafter;
    if (eagle3) {
      auto head = load_eagle3_head(head_dir(), model.config, model.weights.embed_tokens);
      EXPECT_TRUE(head.ok()) << head.message();
      head_ = std::move(head).value();
      options.capture_layer_inputs = head_->config.target_layer_inputs;
      auto created = CpuEagle3Drafter::create(head_->config, head_->weights, 1);
      EXPECT_TRUE(created.ok()) << created.message();
      drafter = std::move(created).value();
      engine_options.speculative.method = "eagle3";
      engine_options.speculative.model = head_dir().string();
      engine_options.speculative.num_speculative_tokens = topk > 1 ? 4 : 3;
      engine_options.speculative.draft_tree_topk = topk;
      EXPECT_TRUE(resolve_speculative_config(&engine_options.speculative).ok());
    }
    auto cpu = CpuModel::create(model.config, model.weights, options);
    EXPECT_TRUE(cpu.ok()) << cpu.message();
    auto executor = std::make_unique<CpuModelExecutor>(std::move(cpu).value(), std::move(drafter));
    executor_ = executor.get();
    if (take_executor_) {  // the test drives the executor itself
      executor_owned_ = std::move(executor);
      return nullptr;
    }
    return cpu_engine_over(std::move(executor), engine_options);
  }

  static TinyLlama* llama_;
  std::unique_ptr<LoadedEagle3Head> head_;
  CpuModelExecutor* executor_ = nullptr;
  bool take_executor_ = false;
  std::unique_ptr<CpuModelExecutor> executor_owned_;
};

TinyLlama* EngineCpuEagle3Test::llama_ = nullptr;

TEST_F(EngineCpuEagle3Test, DraftedStepsGiveThePlainTokensAndLogprobs) {
  const std::vector<EngineRequest> requests = prefix_sharing_requests(24);
  const auto plain = run_all(engine(64, false, false, true).get(), requests);
  struct Run {
    const char* name;
    int num_blocks;
    bool async;
    bool prefix_caching;
    int topk = 1;
  };
  for (const Run& run : {Run{"sync", 64, false, true}, Run{"async", 64, true, true}, Run{"no prefix caching", 64, false, false},
                         Run{"preempting", 8, false, false}, Run{"trees", 64, false, true, 2},
                         Run{"trees, preempting", 8, false, false, 2}}) {
    SCOPED_TRACE(run.name);
    auto spec = engine(run.num_blocks, run.async, true, run.prefix_caching, run.topk);
    const auto got = run_all(spec.get(), requests);
    expect_same_tokens_and_logprobs(plain, got);
    const EngineStats stats = spec->stats();
    EXPECT_GT(stats.spec_decode_num_drafts, 0);
    EXPECT_GT(stats.spec_decode_num_draft_tokens, stats.spec_decode_num_drafts);  // chains of several drafts
  }
}

TEST_F(EngineCpuEagle3Test, FinishedSequencesFreeTheirDraftCache) {
  auto spec = engine(64, false, true, true);
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 3; ++i) requests.push_back(make_request("r" + std::to_string(i), make_prompt(20 + i, i), 10));
  run_all(spec.get(), requests);
  // The engine is idle between runs, so its executor may be read here.
  EXPECT_GE(executor_->drafter()->num_cached_sequences(), 1u);
  // One more request's steps carry the releases of those that finished.
  run_all(spec.get(), {make_request("last", make_prompt(5, 9), 3)});
  EXPECT_LE(executor_->drafter()->num_cached_sequences(), 1u);  // at most "last", finished in the final step
}

// One sequence's step by hand: `tokens` at positions first.. in blocks 0..3, greedy rows at the
// last `num_rows` tokens, the rows after the first verifying the tokens fed after them.
StepInput verify_step(const std::vector<int32_t>& tokens, int first, int num_rows, int num_drafts) {
  StepInput input;
  ForwardBatch& b = input.batch;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int position = first + static_cast<int>(i);
    b.token_ids.push_back(tokens[i]);
    b.positions.push_back(position);
    b.slot_mapping.push_back(position);  // blocks 0..3 in order: slot = position
  }
  b.query_start = {0, static_cast<int32_t>(tokens.size())};
  b.seq_lens = {first + static_cast<int32_t>(tokens.size())};
  b.block_tables = {0, 1, 2, 3};
  b.max_blocks_per_seq = 4;
  for (int j = 0; j < num_rows; ++j) {
    const int row = static_cast<int>(tokens.size()) - num_rows + j;
    b.logits_indices.push_back(row);
    SamplingRowParams params;
    params.logits_row = j;
    if (j + 1 < num_rows) params.draft_token_id = tokens[static_cast<size_t>(row + 1)];
    input.sampling_rows.push_back(params);
  }
  input.draft_sequences.push_back({7, 0, 0, num_rows - 1, num_drafts});
  return input;
}

TEST_F(EngineCpuEagle3Test, TheHeadKeepsTheAcceptedDraftsAndDropsTheRest) {
  // The target's greedy continuation of the prompt, from plain steps.
  const std::vector<int32_t> prompt = {11, 22, 33, 44, 55, 66};
  std::vector<int32_t> greedy;
  {
    auto plain = engine(8, false, false, false);
    const auto result = run_all(plain.get(), {make_request("g", prompt, 4)});
    greedy = result[0].choices.at(0).tokens;
    ASSERT_EQ(greedy.size(), 4u);
  }
  take_executor_ = true;
  engine(8, false, true, false);  // the executor alone, with its drafter
  auto executor = std::move(executor_owned_);
  ASSERT_NE(executor, nullptr);
  StepResult result;
  ASSERT_TRUE(executor->launch(verify_step(prompt, 0, 1, 3)).ok());
  ASSERT_TRUE(executor->collect(&result).ok());
  EXPECT_EQ(result.sampled[0].token_id, greedy[0]);
  ASSERT_EQ(result.drafts.size(), 1u);
  EXPECT_EQ(result.drafts[0].num_nodes(), 3);
  EXPECT_TRUE(result.drafts[0].is_chain());
  // Entries 0..5 (the last with the sampled token), then the chain's guesses at 6 and 7.
  EXPECT_EQ(executor->drafter()->cached_positions(7), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  // A verify step feeding greedy[1] (accepted) then a wrong token (rejected): positions 6 and 7
  // are kept, greedy[2] follows them, and the chain goes on from 8.
  const int32_t wrong = greedy[2] == 5 ? 6 : 5;
  ASSERT_TRUE(executor->launch(verify_step({greedy[0], greedy[1], wrong, 9}, 6, 4, 2)).ok());
  ASSERT_TRUE(executor->collect(&result).ok());
  EXPECT_EQ(result.sampled[0].token_id, greedy[1]);
  EXPECT_EQ(result.sampled[1].token_id, greedy[2]);
  EXPECT_EQ(result.drafts[0].num_nodes(), 2);
  EXPECT_EQ(executor->drafter()->cached_positions(7), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST_F(EngineCpuEagle3Test, ATreesAcceptedPathFeedsTheHeadAsAChainWould) {
  const std::vector<int32_t> prompt = {11, 22, 33, 44, 55, 66};
  std::vector<int32_t> greedy;
  {
    auto plain = engine(8, false, false, false);
    greedy = run_all(plain.get(), {make_request("g", prompt, 3)})[0].choices.at(0).tokens;
    ASSERT_EQ(greedy.size(), 3u);
  }
  take_executor_ = true;
  std::vector<DraftTree> after;
  for (bool tree : {false, true}) {
    SCOPED_TRACE(tree ? "tree" : "chain");
    engine(8, false, true, false);
    auto executor = std::move(executor_owned_);
    StepResult result;
    ASSERT_TRUE(executor->launch(verify_step(prompt, 0, 1, 2)).ok());
    ASSERT_TRUE(executor->collect(&result).ok());
    // Chain: greedy[1] after greedy[0]. Tree: a wrong first child, then greedy[1] as its sibling,
    // in the slot of position 8 at position 7; the walk keeps the root and the second child.
    const int32_t wrong = greedy[1] == 5 ? 6 : 5;
    StepInput input = tree ? verify_step({greedy[0], wrong, greedy[1]}, 6, 3, 2) : verify_step({greedy[0], greedy[1]}, 6, 2, 2);
    if (tree) {
      input.batch.positions[2] = 7;
      input.batch.tree_parents = {-1, 0, 0};
      input.sampling_rows[1].draft_token_id = -1;  // node 0's row has no child to walk first
    }
    ASSERT_TRUE(executor->launch(input).ok());
    ASSERT_TRUE(executor->collect(&result).ok());
    EXPECT_EQ(result.sampled[0].token_id, greedy[1]);
    EXPECT_EQ(result.sampled.back().token_id, greedy[2]);
    // Entries 0..7 (position 7 from the kept node's row), then the chain's guess at 8.
    EXPECT_EQ(executor->drafter()->cached_positions(7), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
    ASSERT_EQ(result.drafts.size(), 1u);
    after.push_back(result.drafts[0]);
  }
  EXPECT_EQ(after[0].tokens, after[1].tokens);
  EXPECT_EQ(after[0].parents, after[1].parents);
}

}  // namespace
}  // namespace kiln::testing
