// Parity with HF transformers: the tiny random models of tests/golden/model/manifest.json are
// re-created with the synth library (the same bytes `kiln synth` writes), loaded, and run over
// the fixture's prompts in one mixed batch; every position's log-probabilities must be within
// 1e-3 of HF's fp32 ones and the greedy tokens identical. The fixtures come from
// tools/golden/make_model_golden.sh on the GPU machine; until they exist the test skips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "model/cpu_model.h"
#include "model/model_loader.h"
#include "golden_fixture.h"
#include "test_model.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::golden_model_dir;

constexpr double kTolerance = 1e-3;
// Below this HF margin between its best and second-best token, f32 rounding may legitimately
// pick the other one; such positions must still agree within kTolerance on the logprobs.
constexpr double kNearTie = 1e-4;

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesHfTransformers) {
  const std::string name = GetParam();
  const json fixture = testing::read_golden_fixture(name);
  if (fixture.is_null()) {
    GTEST_SKIP() << golden_model_dir() / (name + ".json") << " does not exist yet: run "
                 << "tools/golden/make_model_golden.sh on the GPU machine (HF transformers) and commit its output";
  }
  ASSERT_EQ(fixture.at("name"), name);
  ASSERT_EQ(fixture.at("dtype"), "f32");
  const fs::path model_dir = fs::path(KILN_BINARY_DIR) / "golden-models" / name;
  auto loaded = testing::synth_golden_model(fixture, model_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const ModelConfig& config = (*loaded)->config;
  const int block_size = 16;
  int num_blocks = 0;
  const ForwardBatch batch = testing::golden_prompts_batch(fixture, block_size, &num_blocks);
  CpuModelOptions options;
  options.num_blocks = num_blocks;
  options.block_size = block_size;
  auto model = CpuModel::create(config, (*loaded)->weights, options);
  ASSERT_TRUE(model.ok()) << model.message();
  std::vector<float> logits;
  const Status status = (*model)->forward(batch, &logits);
  ASSERT_TRUE(status.ok()) << status.message();
  const auto probe_ids = fixture.at("probe_ids").get<std::vector<int>>();
  const size_t vocab = static_cast<size_t>(config.vocab_size);
  size_t row = 0;
  double worst = 0;
  int near_ties = 0;
  for (const json& prompt : fixture.at("prompts")) {
    const auto greedy = prompt.at("greedy").get<std::vector<int>>();
    const auto greedy_lp = prompt.at("greedy_logprob").get<std::vector<double>>();
    const auto second_lp = prompt.at("second_logprob").get<std::vector<double>>();
    const auto probes = prompt.at("probe_logprobs").get<std::vector<std::vector<double>>>();
    for (size_t p = 0; p < greedy.size(); ++p, ++row) {
      const float* l = logits.data() + row * vocab;
      const size_t argmax = static_cast<size_t>(std::max_element(l, l + vocab) - l);
      const std::vector<double> logprobs = testing::log_softmax_row(l, vocab);
      auto logprob = [&](size_t id) { return logprobs[id]; };
      const std::string where =
          name + " prompt of " + std::to_string(greedy.size()) + " position " + std::to_string(p);
      const double diff = std::abs(logprob(static_cast<size_t>(greedy[p])) - greedy_lp[p]);
      worst = std::max(worst, diff);
      ASSERT_LE(diff, kTolerance) << where << " greedy token " << greedy[p];
      for (size_t i = 0; i < probe_ids.size(); ++i) {
        const double d = std::abs(logprob(static_cast<size_t>(probe_ids[i])) - probes[p][i]);
        worst = std::max(worst, d);
        ASSERT_LE(d, kTolerance) << where << " probe token " << probe_ids[i];
      }
      if (static_cast<int>(argmax) != greedy[p]) {
        ASSERT_LT(greedy_lp[p] - second_lp[p], kNearTie)
            << where << ": greedy " << argmax << ", HF " << greedy[p];
        ++near_ties;
      }
    }
  }
  std::printf("%s: %zu positions, worst |logprob - HF| %.2e, %d near-tie greedy differences\n",
              name.c_str(), row, worst, near_ties);
  fs::remove_all(model_dir);
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTest, ::testing::ValuesIn(testing::golden_model_names()),
                         [](const auto& info) { return info.param; });

TEST(GoldenManifestTest, ListsTheCommittedConfigs) {
  const std::vector<std::string> names = testing::golden_model_names();
  ASSERT_GE(names.size(), 6u);
  for (const std::string& name : names) {
    EXPECT_TRUE(fs::exists(golden_model_dir() / "configs" / (name + ".json"))) << name;
  }
}

}  // namespace
}  // namespace kiln
