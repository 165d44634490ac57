// Speculative decoding over the real CPU forward (a tiny random-weight Llama from `kiln synth`):
// verify steps compute several positions of a sequence with paged attention, rejected drafts
// leave K/V that later steps overwrite, and the tokens and logprobs are those of plain decoding,
// with an f32 or an FP8 KV cache, chunked prefill, prefix caching, preemption and async steps.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/cpu_model_executor.h"
#include "engine/spec/oracle_proposer.h"
#include "engine_test_util.h"
#include "model/cpu_model.h"
#include "model/model_loader.h"
#include "model/synth_model.h"

namespace kiln::testing {
namespace {

class EngineCpuSpeculativeTest : public ::testing::TestWithParam<DType> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("kiln_engine_cpu_spec_" + std::to_string(std::random_device{}())));
    SynthOptions options;
    options.config_path = std::filesystem::path(KILN_SOURCE_DIR) / "tests/data/configs/tiny-llama.json";
    options.out_dir = *dir_;
    options.dtype = DType::kF32;
    options.stddev = 0.5;  // peaked logits: greedy ties are unlikely
    options.show_progress = false;
    options.num_threads = 1;
    auto report = synth_model(options);
    ASSERT_TRUE(report.ok()) << report.message();
    LoadOptions load;
    load.prefault = false;
    load.show_progress = false;
    auto loaded = load_model(*dir_, load);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    model_ = std::move(loaded).value().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
  }

  // An engine over the CPU model; with `recordings`, speculating with the oracle at `rate`.
  static std::unique_ptr<Engine> engine(int num_blocks, bool async_scheduling, const std::vector<OracleRecording>* recordings,
                                        double rate, std::shared_ptr<StepGate> gate) {
    CpuModelOptions options;
    options.num_blocks = num_blocks;
    options.block_size = 16;
    options.num_threads = 1;
    options.kv_cache_dtype = GetParam();
    if (GetParam() == DType::kF8E4M3) options.kv_scales.assign(2 * model_->config.num_hidden_layers, 0.05f);
    auto cpu = CpuModel::create(model_->config, model_->weights, options);
    EXPECT_TRUE(cpu.ok()) << cpu.message();
    EngineConfig config;
    config.scheduler = {24, 64, 256};  // chunked prefill: 24 tokens a step
    config.num_blocks = num_blocks;
    config.stats_log_interval_s = 0;
    config.async_scheduling = async_scheduling;
    if (recordings != nullptr) {
      config.speculative.method = "oracle";
      config.speculative.num_speculative_tokens = 4;
      EXPECT_TRUE(resolve_speculative_config(&config.speculative).ok());
      config.make_draft_proposer = [copy = *recordings, rate] { return std::make_unique<OracleProposer>(copy, rate, 11); };
    }
    std::unique_ptr<ModelExecutor> executor = std::make_unique<CpuModelExecutor>(std::move(cpu).value());
    if (gate) executor = std::make_unique<GatedExecutor>(std::move(executor), std::move(gate));
    if (async_scheduling) executor = std::make_unique<WorkerThreadExecutor>(std::move(executor), nullptr);
    return std::make_unique<Engine>(config, std::move(executor), nullptr);
  }

  static std::filesystem::path* dir_;
  static LoadedModel* model_;
};

std::filesystem::path* EngineCpuSpeculativeTest::dir_ = nullptr;
LoadedModel* EngineCpuSpeculativeTest::model_ = nullptr;

TEST_P(EngineCpuSpeculativeTest, VerifyStepsGiveThePlainTokensAndLogprobs) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 5; ++i) {
    std::vector<int32_t> p;
    for (int t = 0; t < 6 + 9 * i; ++t) p.push_back((t * 37 + i * 101 + 5) % 512);
    if (i >= 3) p.insert(p.begin(), 32, 7);  // two full blocks shared: prefix cache hits
    EngineRequest r = make_request("r" + std::to_string(i), p, 20);
    r.sampling.logprobs = 2;
    requests.push_back(r);
  }
  const auto plain = run_all(engine(64, false, nullptr, 0, nullptr).get(), requests);
  std::vector<OracleRecording> recordings;
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_EQ(plain[i].choices.at(0).tokens.size(), 20u);
    recordings.push_back({requests[i].prompt_token_ids, plain[i].choices.at(0).tokens});
  }
  struct Run {
    const char* name;
    int num_blocks;
    bool async;
    double rate;
  };
  for (const Run& run : {Run{"all accepted", 64, false, 1.0}, Run{"some rejected", 64, false, 0.6},
                         Run{"async", 64, true, 0.6}, Run{"preempting", 8, false, 0.6}}) {
    SCOPED_TRACE(run.name);
    auto gate = std::make_shared<StepGate>();  // every request in the first step: preemption whatever the timing
    auto spec = engine(run.num_blocks, run.async, &recordings, run.rate, gate);
    const auto got = run_all(spec.get(), requests, gate.get());
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
    EXPECT_GT(stats.spec_decode_num_accepted_tokens, 0);
    if (run.rate == 1.0) {
      EXPECT_EQ(stats.spec_decode_num_accepted_tokens, stats.spec_decode_num_draft_tokens);
    }
    if (run.num_blocks == 8) {
      EXPECT_GT(stats.num_preemptions_total, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(KvCache, EngineCpuSpeculativeTest, ::testing::Values(DType::kF32, DType::kF8E4M3),
                         [](const auto& info) { return std::string(info.param == DType::kF32 ? "f32" : "fp8"); });

}  // namespace
}  // namespace kiln::testing
