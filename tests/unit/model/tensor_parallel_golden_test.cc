// Tensor parallelism on the golden models (tests/golden/model/): TP=2 and TP=4 on the CPU backend
// against HF transformers' fp32 logprobs (the same 1e-3 as TP=1 in golden_test.cc) and against
// TP=1 (f32 rounding only), with the greedy token the same at every position where HF's top two
// are not a near-tie. Sizes a model's heads do not split (2 heads at TP=4) are skipped by name.
// Also FP8 checkpoints split over ranks: block-scaled weights whose blocks the ranks split whole
// (activation groups of 128 columns too: the same bits as TP=1 up to the sums' order), per-channel
// weights with per-token activations (each rank scales its own slice of the activations, as
// vLLM's ranks do), and a split that would cut a 128 x 128 block, refused naming the tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "golden_fixture.h"
#include "model/cpu_model.h"
#include "model/cpu_tensor_parallel_model.h"
#include "model/model_loader.h"
#include "model/synth_model.h"
#include "temp_dir.h"
#include "test_model.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kHfTolerance = 1e-3;  // golden_test.cc's, for TP=1
constexpr double kNearTie = 1e-4;
// TP against TP=1 on these models: only the row-parallel sums' order differs (f32, 24 bits).
constexpr double kTp1Tolerance = 1e-4;

CpuModelOptions options_for(int num_blocks) {
  CpuModelOptions options;
  options.num_blocks = num_blocks;
  options.block_size = 16;
  options.num_threads = 2;
  return options;
}

struct GoldenCase {
  std::string name;
  int size;
};

std::vector<GoldenCase> cases() {
  std::vector<GoldenCase> out;
  for (const std::string& name : testing::golden_model_names()) {
    for (int size : {2, 4}) out.push_back({name, size});
  }
  return out;
}

class TensorParallelGoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(TensorParallelGoldenTest, MatchesHfAndTp1) {
  const GoldenCase& param = GetParam();
  const json fixture = testing::read_golden_fixture(param.name);
  if (fixture.is_null()) GTEST_SKIP() << param.name << ": no HF fixture yet (tools/golden/make_model_golden.sh)";
  const fs::path dir = fs::path(KILN_BINARY_DIR) / "golden-models-tp" / (param.name + "-" + std::to_string(param.size));
  auto loaded = testing::synth_golden_model(fixture, dir);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const ModelConfig& config = (*loaded)->config;
  if (const Status split = check_tensor_parallel(config, param.size); !split.ok()) {
    fs::remove_all(dir);
    GTEST_SKIP() << param.name << ": " << split.message();
  }
  int num_blocks = 0;
  const ForwardBatch batch = testing::golden_prompts_batch(fixture, 16, &num_blocks);
  auto whole = CpuModel::create(config, (*loaded)->weights, options_for(num_blocks));
  ASSERT_TRUE(whole.ok()) << whole.message();
  auto tp = CpuTensorParallelModel::create(config, (*loaded)->weights, param.size, options_for(num_blocks));
  ASSERT_TRUE(tp.ok()) << tp.message();
  std::vector<float> expected, got;
  ASSERT_TRUE((*whole)->forward(batch, &expected).ok());
  const Status status = (*tp)->forward(batch, &got);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(got.size(), expected.size());

  const size_t vocab = static_cast<size_t>(config.vocab_size);
  const auto probe_ids = fixture.at("probe_ids").get<std::vector<int>>();
  size_t row = 0;
  double worst_hf = 0, worst_tp1 = 0;
  for (const json& prompt : fixture.at("prompts")) {
    const auto greedy = prompt.at("greedy").get<std::vector<int>>();
    const auto greedy_lp = prompt.at("greedy_logprob").get<std::vector<double>>();
    const auto second_lp = prompt.at("second_logprob").get<std::vector<double>>();
    const auto probes = prompt.at("probe_logprobs").get<std::vector<std::vector<double>>>();
    for (size_t p = 0; p < greedy.size(); ++p, ++row) {
      const float* l = got.data() + row * vocab;
      const std::vector<double> lp = testing::log_softmax_row(l, vocab);
      const std::vector<double> lp1 = testing::log_softmax_row(expected.data() + row * vocab, vocab);
      for (size_t i = 0; i < vocab; ++i) worst_tp1 = std::max(worst_tp1, std::abs(lp[i] - lp1[i]));
      const std::string where = param.name + " TP=" + std::to_string(param.size) + " position " + std::to_string(p);
      worst_hf = std::max(worst_hf, std::abs(lp[static_cast<size_t>(greedy[p])] - greedy_lp[p]));
      ASSERT_LE(std::abs(lp[static_cast<size_t>(greedy[p])] - greedy_lp[p]), kHfTolerance) << where;
      for (size_t i = 0; i < probe_ids.size(); ++i) {
        const double d = std::abs(lp[static_cast<size_t>(probe_ids[i])] - probes[p][i]);
        worst_hf = std::max(worst_hf, d);
        ASSERT_LE(d, kHfTolerance) << where << " probe " << probe_ids[i];
      }
      const int argmax = static_cast<int>(std::max_element(l, l + vocab) - l);
      if (argmax != greedy[p]) {
        ASSERT_LT(greedy_lp[p] - second_lp[p], kNearTie) << where;
      }
    }
  }
  EXPECT_LE(worst_tp1, kTp1Tolerance);
  std::printf("%s TP=%d: %zu positions, worst |logprob - HF| %.2e, |logprob - TP=1| %.2e\n", param.name.c_str(),
              param.size, row, worst_hf, worst_tp1);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Models, TensorParallelGoldenTest, ::testing::ValuesIn(cases()), [](const auto& info) {
  return info.param.name + "_tp" + std::to_string(info.param.size);
});

// A checkpoint of `config_json` (written under `dir`), FP8 or not, loaded. The same seed gives
// FP8 codes that quantize the unquantized checkpoint's values.
std::unique_ptr<LoadedModel> synth_and_load(const fs::path& dir, const json& config_json,
                                            SynthQuantization quantization) {
  fs::create_directories(dir);
  std::ofstream(dir / "input.json") << config_json.dump();
  const fs::path out = dir / (quantization == SynthQuantization::kNone ? "bf16" : "fp8");
  SynthOptions synth;
  synth.config_path = dir / "input.json";
  synth.out_dir = out;
  synth.seed = 21;
  synth.stddev = 0.05;
  synth.quantization = quantization;
  synth.show_progress = false;
  EXPECT_TRUE(synth_model(synth).ok());
  LoadOptions load;
  load.prefault = false;
  load.show_progress = false;
  auto loaded = load_model(out, load);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  return std::move(loaded).value();
}

json llama_config(int hidden, int heads, int kv_heads, int intermediate) {
  return json{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", hidden},
              {"intermediate_size", intermediate}, {"num_attention_heads", heads}, {"num_key_value_heads", kv_heads},
              {"num_hidden_layers", 2}, {"vocab_size", 300}, {"max_position_embeddings", 256},
              {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false},
              {"torch_dtype", "bfloat16"}, {"bos_token_id", 1}, {"eos_token_id", 2}};
}

constexpr int kPromptTokens = 40;

// The logits of every position of one 40-token prompt, from `size` ranks (1: CpuModel itself).
std::vector<float> prompt_logits(const LoadedModel& m, int size) {
  testing::SeqStep seq;
  for (int i = 0; i < kPromptTokens; ++i) seq.tokens.push_back((i * 37 + 11) % m.config.vocab_size);
  seq.num_new = kPromptTokens;
  seq.all_logits = true;
  seq.blocks = {0, 1, 2};
  const ForwardBatch batch = testing::make_batch({seq}, 16);
  std::vector<float> logits;
  if (size == 1) {
    auto whole = CpuModel::create(m.config, m.weights, options_for(3));
    EXPECT_TRUE(whole.ok()) << whole.message();
    EXPECT_TRUE((*whole)->forward(batch, &logits).ok());
  } else {
    auto tp = CpuTensorParallelModel::create(m.config, m.weights, size, options_for(3));
    EXPECT_TRUE(tp.ok()) << tp.message();
    EXPECT_TRUE((*tp)->forward(batch, &logits).ok());
  }
  return logits;
}

// The worst |logprob difference| between two runs' logits, and the positions whose greedy token differs.
std::pair<double, int> compare(const std::vector<float>& got, const std::vector<float>& expected, int vocab_size) {
  const size_t vocab = static_cast<size_t>(vocab_size);
  double worst = 0;
  int greedy_differences = 0;
  for (size_t r = 0; r < kPromptTokens; ++r) {
    const auto a = testing::log_softmax_row(got.data() + r * vocab, vocab);
    const auto b = testing::log_softmax_row(expected.data() + r * vocab, vocab);
    for (size_t i = 0; i < vocab; ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    greedy_differences += std::max_element(a.begin(), a.end()) - a.begin() != std::max_element(b.begin(), b.end()) - b.begin();
  }
  return {worst, greedy_differences};
}

TEST(TensorParallelFp8Test, BlockScalesSplitOnBlockBoundaries) {
  testing_support::TempDir dir;
  // k_proj has 4 KV heads x 64 = 256 rows, intermediate 512: TP=2 cuts every matrix on 128s.
  const auto m = synth_and_load(dir.path(), llama_config(256, 4, 4, 512), SynthQuantization::kFp8Block);
  ASSERT_EQ(m->config.quantization.weight_scale, WeightScaleKind::kBlock);
  const auto [worst, differences] = compare(prompt_logits(*m, 2), prompt_logits(*m, 1), m->config.vocab_size);
  // Activation groups are the same 128 columns on every rank: only the sums' order differs.
  EXPECT_LT(worst, kTp1Tolerance);
  EXPECT_EQ(differences, 0);
  std::printf("fp8 block TP=2: worst |logprob - TP=1| %.2e\n", worst);
  // TP=4 would give each rank 64 of q_proj's 256 rows: half a block.
  auto refused = CpuTensorParallelModel::create(m->config, m->weights, 4, options_for(3));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("[0, 64)"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("multiples of 128"), std::string::npos) << refused.message();
}

TEST(TensorParallelFp8Test, PerChannelWeightsWithPerTokenActivations) {
  testing_support::TempDir dir;
  const json config = llama_config(64, 4, 2, 128);
  const auto m = synth_and_load(dir.path(), config, SynthQuantization::kFp8Dynamic);
  ASSERT_EQ(m->config.quantization.weight_scale, WeightScaleKind::kChannel);
  // o_proj's and down_proj's inputs are quantized per token over each rank's slice, so their
  // scales (absmax / 448) differ from TP=1's: the runs differ by FP8 rounding, not f32's. Both
  // must then be as close to the unquantized model the codes came from.
  const auto unquantized = synth_and_load(dir.path(), config, SynthQuantization::kNone);
  const std::vector<float> reference = prompt_logits(*unquantized, 1);
  const double tp1_error = compare(prompt_logits(*m, 1), reference, m->config.vocab_size).first;
  for (int size : {2, 4}) {
    const std::vector<float> logits = prompt_logits(*m, size);
    const auto [tp_error, ignored] = compare(logits, reference, m->config.vocab_size);
    const auto [worst, differences] = compare(logits, prompt_logits(*m, 1), m->config.vocab_size);
    EXPECT_LT(tp_error, 1.5 * tp1_error) << "TP=" << size;
    EXPECT_LT(worst, 2 * tp1_error) << "TP=" << size;
    std::printf("fp8 per-channel TP=%d: worst |logprob - unquantized| %.2e (TP=1: %.2e), |logprob - TP=1| %.2e, "
                "%d greedy differences of %d\n",
                size, tp_error, tp1_error, worst, differences, kPromptTokens);
  }
}

}  // namespace
}  // namespace kiln
