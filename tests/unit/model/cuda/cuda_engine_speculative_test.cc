// Speculative decoding over the CUDA executor: verify steps feed each sequence's drafts after its
// last token, the device samples a row per drafted position (each verifying the draft after it)
// and rejected drafts' K/V are overwritten later. Greedy outputs must be plain decoding's token for
// token, with the oracle drafting everything right (acceptance 1.0) or some wrong (0.6), with
// n-gram drafts, with CUDA graphs, eagerly and with async scheduling; logprobs stay within bf16
// noise of plain decoding's (a verify step computes several positions in one pass). Draft trees
// (KILN_CUDA_SPEC_TREES: the tree-masked prefill attention and the KV moves) give the same tokens.
// Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda_test_setup.h"
#include "cuda_test_util.h"
#include "engine/spec/oracle_proposer.h"
#include "engine_test_util.h"

namespace kiln::testing {
namespace {

struct SpecRun {
  const char* name;
  const char* method;  // "" (plain), "oracle" or "ngram"
  double acceptance = 1.0;
  bool async_scheduling = false;
  bool enforce_eager = false;
  int topk = 1;  // draft_tree_topk: above 1, trees of 6 nodes (CudaModelOptions::draft_trees)
};

class CudaEngineSpeculativeTest : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }

  std::vector<RequestResult> run(const SpecRun& spec_run, const std::vector<EngineRequest>& requests,
                                 const std::vector<OracleRecording>& recordings, EngineStats* stats) {
    if (!model_) model_ = make_test_model(small_bf16_llama(41));
    const int kDrafts = spec_run.topk > 1 ? 6 : 4;
    cuda::CudaModelOptions options = engine_model_options();
    options.enforce_eager = spec_run.enforce_eager;
    options.max_sampled_rows = 8 * (1 + kDrafts);  // as engine_builder sizes it
    options.draft_trees = spec_run.topk > 1;
    EngineConfig config = engine_config_for(options, spec_run.async_scheduling);
    if (std::string(spec_run.method) == "oracle") {
      config.speculative.method = "oracle";
      config.speculative.num_speculative_tokens = kDrafts;
      config.make_draft_proposer = [recordings, rate = spec_run.acceptance] {
        return std::make_unique<OracleProposer>(recordings, rate, 5);
      };
    } else if (std::string(spec_run.method) == "ngram") {
      config.speculative.method = "ngram";
      config.speculative.num_speculative_tokens = kDrafts;
      config.speculative.prompt_lookup_min = 1;
      config.speculative.prompt_lookup_max = 3;
    }
    config.speculative.draft_tree_topk = spec_run.topk;
    if (config.speculative.enabled()) {
      EXPECT_TRUE(resolve_speculative_config(&config.speculative).ok());
    }
    auto gate = std::make_shared<StepGate>();  // every request admitted in the first step
    std::unique_ptr<ModelExecutor> executor = std::make_unique<GatedExecutor>(make_cuda_executor(*model_, options), gate);
    Engine engine(config, std::move(executor), nullptr);
    auto results = run_all(&engine, requests, gate.get());
    *stats = engine.stats();
    return results;
  }

  // Six requests, every other one with repeated spans (n-gram drafts find matches), and each one's
  // plain greedy output recorded for the oracle.
  void plain_run(std::vector<EngineRequest>* requests, std::vector<RequestResult>* plain,
                 std::vector<OracleRecording>* recordings) {
    for (int i = 0; i < 6; ++i) {
      std::vector<int32_t> prompt;
      for (int t = 0; t < 12 + 11 * i; ++t) prompt.push_back((t * 37 + i * 101 + 5) % 997);
      if (i % 2 == 1) {
        const std::vector<int32_t> span(prompt.begin(), prompt.begin() + 8);
        for (int r = 0; r < 3; ++r) prompt.insert(prompt.end(), span.begin(), span.end());
      }
      EngineRequest r = make_request("s" + std::to_string(i), prompt, 40);
      r.sampling.logprobs = 1;
      requests->push_back(r);
    }
    EngineStats stats;
    *plain = run({"plain", ""}, *requests, {}, &stats);
    for (size_t i = 0; i < requests->size(); ++i) {
      ASSERT_EQ((*plain)[i].error, "") << i;
      recordings->push_back({(*requests)[i].prompt_token_ids, (*plain)[i].choices.at(0).tokens});
    }
  }

  std::unique_ptr<TestModel> model_;
};

TEST_F(CudaEngineSpeculativeTest, GreedyOutputsArePlainDecodingsWithGraphsEagerlyAndAsync) {
  std::vector<EngineRequest> requests;
  std::vector<RequestResult> plain;
  std::vector<OracleRecording> recordings;
  plain_run(&requests, &plain, &recordings);
  EngineStats stats;
  for (const SpecRun& spec_run : {SpecRun{"oracle 1.0, graphs", "oracle", 1.0}, SpecRun{"oracle 0.6, graphs", "oracle", 0.6},
                                  SpecRun{"oracle 0.6, eager", "oracle", 0.6, false, true},
                                  SpecRun{"oracle 0.6, async", "oracle", 0.6, true}, SpecRun{"ngram, graphs", "ngram"},
                                  // Draft trees: tree steps run eagerly, plain decodes in graphs.
                                  SpecRun{"oracle trees 1.0", "oracle", 1.0, false, false, 3},
                                  SpecRun{"oracle trees 0.6, async", "oracle", 0.6, true, false, 2},
                                  SpecRun{"ngram trees", "ngram", 1.0, false, false, 3}}) {
    SCOPED_TRACE(spec_run.name);
    const auto got = run(spec_run, requests, recordings, &stats);
    for (size_t i = 0; i < requests.size(); ++i) {
      ASSERT_EQ(got[i].error, "") << i;
      const ChoiceResult& expected = plain[i].choices.at(0);
      const ChoiceResult& actual = got[i].choices.at(0);
      EXPECT_EQ(actual.tokens, expected.tokens) << i;
      ASSERT_EQ(actual.logprobs.size(), expected.logprobs.size()) << i;
      for (size_t t = 0; t < expected.logprobs.size(); ++t) {
        EXPECT_NEAR(actual.logprobs[t].logprob, expected.logprobs[t].logprob, 0.05) << i << " " << t;
      }
    }
    EXPECT_GT(stats.spec_decode_num_draft_tokens, 0);
    // The oracle's drafts are the plain outputs (some corrupted); n-gram drafts are accepted only
    // where the random model happens to repeat itself.
    if (std::string(spec_run.method) == "oracle") {
      EXPECT_GT(stats.spec_decode_num_accepted_tokens, 0);
    }
    if (spec_run.acceptance == 1.0 && std::string(spec_run.method) == "oracle" && spec_run.topk == 1) {
      EXPECT_EQ(stats.spec_decode_num_accepted_tokens, stats.spec_decode_num_draft_tokens);
    }
  }
}

}  // namespace
}  // namespace kiln::testing
