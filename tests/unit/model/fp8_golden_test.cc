// The CPU backend's FP8 against PyTorch's float8_e4m3fn: the tiny FP8 models of
// tests/golden/model_fp8/manifest.json (both checkpoint formats and online FP8) re-created with the
// synth library, run over the fixture's prompts, compared with tools/golden/make_fp8_golden.py's
// f32 emulation (the same codes; activations quantized by torch). Both sides compute in f32 with
// the same quantization rule, so the bound is the f32 golden test's, loosened for the rare
// activation code that rounds the other way. The fixtures come from
// tools/golden/make_fp8_golden.sh on the GPU machine; until they exist the test skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "golden_fixture.h"
#include "model/cpu_model.h"
#include "model/model_loader.h"
#include "model/synth_model.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 5e-3;
constexpr double kNearTie = 1e-2;

fs::path fp8_golden_dir() { return fs::path(KILN_SOURCE_DIR) / "tests" / "golden" / "model_fp8"; }

std::vector<std::string> fp8_golden_names() {
  std::vector<std::string> names;
  std::ifstream in(fp8_golden_dir() / "manifest.json");
  if (!in) return names;
  const json manifest = json::parse(in);  // named: a temporary in the range-for would dangle
  for (const auto& item : manifest.at("models").items()) names.push_back(item.key());
  return names;
}

class Fp8GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp8GoldenTest, MatchesPyTorchFloat8) {
  const std::string name = GetParam();
  std::ifstream in(fp8_golden_dir() / (name + ".json"));
  if (!in) {
    GTEST_SKIP() << fp8_golden_dir() / (name + ".json") << " does not exist yet: run tools/golden/make_fp8_golden.sh "
                 << "on the GPU machine (PyTorch's float8_e4m3fn) and commit its output";
  }
  const json fixture = json::parse(in);
  const fs::path dir = fs::path(KILN_BINARY_DIR) / "golden-models-fp8" / name;
  fs::remove_all(dir);
  SynthOptions synth;
  synth.config_path = testing::golden_model_dir() / "configs" / fixture.at("config").get<std::string>();
  synth.out_dir = dir;
  synth.seed = fixture.at("seed").get<uint64_t>();
  synth.stddev = fixture.at("std").get<double>();
  synth.dtype = DType::kF32;
  synth.show_progress = false;
  const std::string quantization = fixture.at("quantization").get<std::string>();
  if (quantization != "online") synth.quantization = *parse_synth_quantization(quantization);
  const auto report = synth_model(synth);
  ASSERT_TRUE(report.ok()) << report.message();
  LoadOptions load;
  load.prefault = false;
  load.show_progress = false;
  if (quantization == "online") load.quantization = "fp8";
  auto loaded = load_model(dir, load);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ASSERT_TRUE((*loaded)->config.quantization.enabled());

  int num_blocks = 0;
  const ForwardBatch batch = testing::golden_prompts_batch(fixture, 16, &num_blocks);
  CpuModelOptions options;
  options.num_blocks = num_blocks;
  options.block_size = 16;
  auto model = CpuModel::create((*loaded)->config, (*loaded)->weights, options);
  ASSERT_TRUE(model.ok()) << model.message();
  std::vector<float> logits;
  ASSERT_TRUE((*model)->forward(batch, &logits).ok());

  const auto probe_ids = fixture.at("probe_ids").get<std::vector<int>>();
  const size_t vocab = static_cast<size_t>((*loaded)->config.vocab_size);
  size_t row = 0;
  double worst = 0;
  int disagreements = 0;
  for (const json& prompt : fixture.at("prompts")) {
    const auto greedy = prompt.at("greedy").get<std::vector<int>>();
    const auto greedy_lp = prompt.at("greedy_logprob").get<std::vector<double>>();
    const auto second_lp = prompt.at("second_logprob").get<std::vector<double>>();
    const auto probes = prompt.at("probe_logprobs").get<std::vector<std::vector<double>>>();
    for (size_t p = 0; p < greedy.size(); ++p, ++row) {
      const float* l = logits.data() + row * vocab;
      const std::vector<double> logprobs = testing::log_softmax_row(l, vocab);
      worst = std::max(worst, std::abs(logprobs[static_cast<size_t>(greedy[p])] - greedy_lp[p]));
      for (size_t i = 0; i < probe_ids.size(); ++i) {
        worst = std::max(worst, std::abs(logprobs[static_cast<size_t>(probe_ids[i])] - probes[p][i]));
      }
      const size_t argmax = static_cast<size_t>(std::max_element(l, l + vocab) - l);
      if (argmax != static_cast<size_t>(greedy[p]) && greedy_lp[p] - second_lp[p] > kNearTie) ++disagreements;
    }
  }
  std::printf("%s: %zu positions, worst |logprob - torch| %.2e, %d greedy disagreements outside near-ties\n",
              name.c_str(), row, worst, disagreements);
  EXPECT_LE(worst, kTolerance);
  EXPECT_EQ(disagreements, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, Fp8GoldenTest, ::testing::ValuesIn(fp8_golden_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln
