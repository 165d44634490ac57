// Parity with HF transformers: the tiny random models of tests/golden/model/manifest.json are
// re-created with the synth library (the same bytes `kiln synth` writes), loaded, and run over
// the fixture's prompts in one mixed batch; every position's log-probabilities must be within
// 1e-3 of HF's fp32 ones and the greedy tokens identical. The fixtures come from
// tools/golden/make_model_golden.sh on the GPU machine; until they exist the test skips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/cpu_model.h"
#include "model/model_loader.h"
#include "model/synth_model.h"
#include "test_model.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 1e-3;
// Below this HF margin between its best and second-best token, f32 rounding may legitimately
// pick the other one; such positions must still agree within kTolerance on the logprobs.
constexpr double kNearTie = 1e-4;

const fs::path kGoldenDir = fs::path(KILN_SOURCE_DIR) / "tests" / "golden" / "model";

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return json();
  return json::parse(in);
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  const json manifest = read_json(kGoldenDir / "manifest.json");
  if (manifest.is_object()) {
    for (const auto& item : manifest["models"].items()) names.push_back(item.key());
  }
  return names;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesHfTransformers) {
  const std::string name = GetParam();
  const fs::path fixture_path = kGoldenDir / (name + ".json");
  if (!fs::exists(fixture_path)) {
    GTEST_SKIP() << fixture_path << " does not exist yet: run tools/golden/make_model_golden.sh "
                 << "on the GPU machine (HF transformers) and commit its output";
  }
  const json fixture = read_json(fixture_path);
  ASSERT_EQ(fixture.at("name"), name);
  ASSERT_EQ(fixture.at("dtype"), "f32");

  const fs::path model_dir = fs::path(KILN_BINARY_DIR) / "golden-models" / name;
  fs::remove_all(model_dir);
  SynthOptions synth;
  synth.config_path = kGoldenDir / "configs" / fixture.at("config").get<std::string>();
  synth.out_dir = model_dir;
  synth.seed = fixture.at("seed").get<uint64_t>();
  synth.stddev = fixture.at("std").get<double>();
  synth.dtype = DType::kF32;
  synth.show_progress = false;
  const auto synthesized = synth_model(synth);
  ASSERT_TRUE(synthesized.ok()) << synthesized.message();
  LoadOptions load_options;
  load_options.prefault = false;
  load_options.show_progress = false;
  auto loaded = load_model(model_dir, load_options);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const ModelConfig& config = (*loaded)->config;

  // All prompts in one step, each a sequence of its own in its own blocks.
  const int block_size = 16;
  std::vector<testing::SeqStep> seqs;
  int next_block = 0;
  for (const json& prompt : fixture.at("prompts")) {
    testing::SeqStep seq;
    seq.tokens = prompt.at("ids").get<std::vector<int32_t>>();
    seq.num_new = static_cast<int>(seq.tokens.size());
    seq.all_logits = true;
    for (int b = 0; b < (seq.num_new + block_size - 1) / block_size; ++b)
      seq.blocks.push_back(next_block++);
    seqs.push_back(seq);
  }
  CpuModelOptions options;
  options.num_blocks = next_block;
  options.block_size = block_size;
  auto model = CpuModel::create(config, (*loaded)->weights, options);
  ASSERT_TRUE(model.ok()) << model.message();
  std::vector<float> logits;
  const Status status = (*model)->forward(testing::make_batch(seqs, block_size), &logits);
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
      double max_logit = l[0];
      size_t argmax = 0;
      for (size_t v = 1; v < vocab; ++v) {
        if (l[v] > max_logit) max_logit = l[argmax = v];
      }
      double sum = 0;
      for (size_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(l[v]) - max_logit);
      const double log_z = max_logit + std::log(sum);
      auto logprob = [&](size_t id) { return static_cast<double>(l[id]) - log_z; };
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

INSTANTIATE_TEST_SUITE_P(Models, GoldenTest, ::testing::ValuesIn(model_names()),
                         [](const auto& info) { return info.param; });

TEST(GoldenManifestTest, ListsTheCommittedConfigs) {
  const std::vector<std::string> names = model_names();
  ASSERT_GE(names.size(), 6u);
  for (const std::string& name : names) {
    EXPECT_TRUE(fs::exists(kGoldenDir / "configs" / (name + ".json"))) << name;
  }
}

}  // namespace
}  // namespace kiln
