// Speculative decoding over the real CPU forward (a tiny random-weight Llama from `kiln synth`):
// verify steps compute several positions of a sequence with paged attention, rejected drafts
// leave K/V that later steps overwrite, and the tokens and logprobs are those of plain decoding,
// with an f32 or an FP8 KV cache, chunked prefill, prefix caching, preemption and async steps;
// draft trees run tree attention and move the accepted nodes' K/V into place.
#include <gtest/gtest.h>

#include "cpu_engine_test_util.h"
#include "engine/spec/oracle_proposer.h"

namespace kiln::testing {
namespace {

class EngineCpuSpeculativeTest : public ::testing::TestWithParam<DType> {
 protected:
  static void SetUpTestSuite() {
    auto llama = TinyLlama::create("kiln_engine_cpu_spec_");
    ASSERT_TRUE(llama.ok()) << llama.message();
    llama_ = std::move(llama).value().release();
  }
  static void TearDownTestSuite() { delete llama_; }

  // An engine over the CPU model; with `recordings`, speculating with the oracle at `rate`
  // (trees of `topk` children per node when above 1).
  static std::unique_ptr<Engine> engine(int num_blocks, bool async_scheduling, const std::vector<OracleRecording>* recordings,
                                        double rate, std::shared_ptr<StepGate> gate, int topk = 1) {
    CpuEngineOptions options;
    options.num_blocks = num_blocks;
    options.kv_cache_dtype = GetParam();
    options.async_scheduling = async_scheduling;
    options.gate = std::move(gate);
    if (recordings != nullptr) {
      options.speculative.method = "oracle";
      options.speculative.num_speculative_tokens = topk > 1 ? 6 : 4;
      options.speculative.draft_tree_topk = topk;
      EXPECT_TRUE(resolve_speculative_config(&options.speculative).ok());
      options.make_draft_proposer = [copy = *recordings, rate] { return std::make_unique<OracleProposer>(copy, rate, 11); };
    }
    return make_cpu_engine(*llama_->model, options);
  }

  static TinyLlama* llama_;
};

TinyLlama* EngineCpuSpeculativeTest::llama_ = nullptr;

TEST_P(EngineCpuSpeculativeTest, VerifyStepsGiveThePlainTokensAndLogprobs) {
  const std::vector<EngineRequest> requests = prefix_sharing_requests(20);
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
    int topk = 1;
  };
  for (const Run& run : {Run{"all accepted", 64, false, 1.0}, Run{"some rejected", 64, false, 0.6},
                         Run{"async", 64, true, 0.6}, Run{"preempting", 8, false, 0.6},
                         Run{"trees, all accepted", 64, false, 1.0, 3}, Run{"trees, some rejected", 64, false, 0.6, 3},
                         Run{"trees, async", 64, true, 0.6, 2}, Run{"trees, preempting", 8, false, 0.6, 2}}) {
    SCOPED_TRACE(run.name);
    auto gate = std::make_shared<StepGate>();  // every request in the first step: preemption whatever the timing
    auto spec = engine(run.num_blocks, run.async, &recordings, run.rate, gate, run.topk);
    const auto got = run_all(spec.get(), requests, gate.get());
    expect_same_tokens_and_logprobs(plain, got);
    const EngineStats stats = spec->stats();
    EXPECT_GT(stats.spec_decode_num_accepted_tokens, 0);
    if (run.rate == 1.0 && run.topk == 1) {
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
