// EAGLE-3 speculative decoding over the real CPU forward: a tiny random-weight Llama and a
// random head of the published format (both from `kiln synth`). The head drafts after every
// step from the target's captured hidden states, the verify steps check the drafts, and the
// greedy tokens and logprobs are those of plain decoding, with chunked prefill, prefix caching,
// preemption and async scheduling; every sequence's draft cache is gone when it finishes.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/cpu_model_executor.h"
#include "engine_test_util.h"
#include "model/cpu_eagle3_drafter.h"
#include "model/cpu_model.h"
#include "model/eagle3_head.h"
#include "model/model_loader.h"
#include "model/synth_eagle3_head.h"
#include "model/synth_model.h"

namespace kiln::testing {
namespace {

class EngineCpuEagle3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("kiln_engine_cpu_eagle3_" + std::to_string(std::random_device{}())));
    SynthOptions options;
    options.config_path = std::filesystem::path(KILN_SOURCE_DIR) / "tests/data/configs/tiny-llama.json";
    options.out_dir = *dir_ / "target";
    options.dtype = DType::kF32;
    options.stddev = 0.5;  // peaked logits: greedy ties are unlikely
    options.show_progress = false;
    options.num_threads = 1;
    auto report = synth_model(options);
    ASSERT_TRUE(report.ok()) << report.message();
    SynthEagle3HeadOptions head;
    head.config_path = std::filesystem::path(KILN_SOURCE_DIR) / "tests/data/configs/tiny-eagle3-head.json";
    head.out_dir = *dir_ / "head";
    head.dtype = DType::kF32;
    head.stddev = 0.5;
    auto head_report = synth_eagle3_head(head);
    ASSERT_TRUE(head_report.ok()) << head_report.message();
    LoadOptions load;
    load.prefault = false;
    load.show_progress = false;
    auto loaded = load_model(*dir_ / "target", load);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    model_ = std::move(loaded).value().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
  }

  // An engine over the CPU model; with `eagle3`, the head drafts up to 3 tokens.
  std::unique_ptr<Engine> engine(int num_blocks, bool async_scheduling, bool eagle3, bool prefix_caching) {
    CpuModelOptions options;
    options.num_blocks = num_blocks;
    options.block_size = 16;
    options.num_threads = 1;
    std::unique_ptr<CpuEagle3Drafter> drafter;
    if (eagle3) {
      auto head = load_eagle3_head(*dir_ / "head", model_->config, model_->weights.embed_tokens);
      EXPECT_TRUE(head.ok()) << head.message();
      head_ = std::move(head).value();
      options.capture_layer_inputs = head_->config.target_layer_inputs;
      auto created = CpuEagle3Drafter::create(head_->config, head_->weights, 1);
      EXPECT_TRUE(created.ok()) << created.message();
      drafter = std::move(created).value();
    }
    auto cpu = CpuModel::create(model_->config, model_->weights, options);
    EXPECT_TRUE(cpu.ok()) << cpu.message();
    EngineConfig config;
    config.scheduler = {24, 64, 256};  // chunked prefill: 24 tokens a step
    config.num_blocks = num_blocks;
    config.stats_log_interval_s = 0;
    config.async_scheduling = async_scheduling;
    config.enable_prefix_caching = prefix_caching;
    if (eagle3) {
      config.speculative.method = "eagle3";
      config.speculative.model = (*dir_ / "head").string();
      config.speculative.num_speculative_tokens = 3;
      EXPECT_TRUE(resolve_speculative_config(&config.speculative).ok());
    }
    auto executor = std::make_unique<CpuModelExecutor>(std::move(cpu).value(), std::move(drafter));
    executor_ = executor.get();
    if (take_executor_) {  // the test drives the executor itself
      executor_owned_ = std::move(executor);
      return nullptr;
    }
    std::unique_ptr<ModelExecutor> outer = std::move(executor);
    if (async_scheduling) outer = std::make_unique<WorkerThreadExecutor>(std::move(outer), nullptr);
    return std::make_unique<Engine>(config, std::move(outer), nullptr);
  }

  static std::filesystem::path* dir_;
  static LoadedModel* model_;
  std::unique_ptr<LoadedEagle3Head> head_;
  CpuModelExecutor* executor_ = nullptr;
  bool take_executor_ = false;
  std::unique_ptr<CpuModelExecutor> executor_owned_;
};

std::filesystem::path* EngineCpuEagle3Test::dir_ = nullptr;
LoadedModel* EngineCpuEagle3Test::model_ = nullptr;

TEST_F(EngineCpuEagle3Test, DraftedStepsGiveThePlainTokensAndLogprobs) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 5; ++i) {
    std::vector<int32_t> p;
    for (int t = 0; t < 6 + 9 * i; ++t) p.push_back((t * 37 + i * 101 + 5) % 512);
    if (i >= 3) p.insert(p.begin(), 32, 7);  // two full blocks shared: prefix cache hits
    EngineRequest r = make_request("r" + std::to_string(i), p, 24);
    r.sampling.logprobs = 2;
    requests.push_back(r);
  }
  const auto plain = run_all(engine(64, false, false, true).get(), requests);
  struct Run {
    const char* name;
    int num_blocks;
    bool async;
    bool prefix_caching;
  };
  for (const Run& run : {Run{"sync", 64, false, true}, Run{"async", 64, true, true}, Run{"no prefix caching", 64, false, false},
                         Run{"preempting", 8, false, false}}) {
    SCOPED_TRACE(run.name);
    auto spec = engine(run.num_blocks, run.async, true, run.prefix_caching);
    const auto got = run_all(spec.get(), requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      const ChoiceResult& expected = plain[i].choices.at(0);
      const ChoiceResult& actual = got[i].choices.at(0);
      EXPECT_EQ(actual.tokens, expected.tokens) << i;
      ASSERT_EQ(actual.logprobs.size(), expected.logprobs.size()) << i;
      for (size_t t = 0; t < expected.logprobs.size(); ++t) {
        EXPECT_FLOAT_EQ(actual.logprobs[t].logprob, expected.logprobs[t].logprob) << i << " " << t;
      }
    }
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
  EXPECT_EQ(result.drafts[0].size(), 3u);
  // Entries 0..5 (the last with the sampled token), then the chain's guesses at 6 and 7.
  EXPECT_EQ(executor->drafter()->cached_positions(7), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  // A verify step feeding greedy[1] (accepted) then a wrong token (rejected): positions 6 and 7
  // are kept, greedy[2] follows them, and the chain goes on from 8.
  const int32_t wrong = greedy[2] == 5 ? 6 : 5;
  ASSERT_TRUE(executor->launch(verify_step({greedy[0], greedy[1], wrong, 9}, 6, 4, 2)).ok());
  ASSERT_TRUE(executor->collect(&result).ok());
  EXPECT_EQ(result.sampled[0].token_id, greedy[1]);
  EXPECT_EQ(result.sampled[1].token_id, greedy[2]);
  EXPECT_EQ(result.drafts[0].size(), 2u);
  EXPECT_EQ(executor->drafter()->cached_positions(7), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
}

}  // namespace
}  // namespace kiln::testing
