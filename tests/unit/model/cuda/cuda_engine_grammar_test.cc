// Structured outputs over the CUDA executor: token masks travel with each step's sampling rows
// to the device, where the eager sampling kernels and the decode graphs apply them. Every
// output must follow its grammar (each token accepted by a matcher, the end only where the
// grammar is complete), with graphs or eagerly, synchronous or with async scheduling; with the
// same batches the runs give the same tokens bit for bit.
#include <gtest/gtest.h>

#include <regex>

#include "cuda_test_setup.h"
#include "cuda_test_util.h"
#include "engine_test_util.h"
#include "grammar/grammar_compiler.h"
#include "grammar/grammar_matcher.h"

namespace kiln::testing {
namespace {

constexpr int kGrammarVocab = kSmallLlamaVocab;
constexpr int32_t kEndToken = kGrammarVocab - 1;

// The fake detokenizer's pieces as the grammar's vocabulary, kEndToken ending generation.
std::shared_ptr<const grammar::CompiledGrammar> compile_regex(const std::string& regex) {
  static grammar::GrammarCompiler compiler([] {
    std::vector<std::string> bytes;
    for (int32_t t = 0; t < kGrammarVocab; ++t) bytes.push_back(t == kEndToken ? "" : piece(t));
    return grammar::Vocabulary::create(std::move(bytes), {}, {kEndToken});
  }());
  grammar::GrammarSpec spec;
  spec.kind = grammar::GrammarKind::kRegex;
  spec.text = regex;
  auto result = compiler.compile(spec);
  EXPECT_TRUE(result.ok()) << result.message();
  return result.value();
}

class CudaEngineGrammarTest : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }

  std::vector<RequestResult> run(bool async_scheduling, bool enforce_eager, const std::vector<EngineRequest>& requests) {
    if (!model_) model_ = make_test_model(small_bf16_llama(29));
    cuda::CudaModelOptions options = engine_model_options();
    options.enforce_eager = enforce_eager;
    EngineConfig config = engine_config_for(options, async_scheduling);
    config.generation_defaults.eos_token_ids = {kEndToken};
    auto gate = std::make_shared<StepGate>();  // every request admitted in the first step
    std::unique_ptr<ModelExecutor> executor = std::make_unique<GatedExecutor>(make_cuda_executor(*model_, options), gate);
    Engine engine(config, std::move(executor),
                  [](std::span<const int32_t>, bool) { return std::make_unique<FakeDetokenizer>(); });
    return run_all(&engine, requests, gate.get());
  }

  std::unique_ptr<TestModel> model_;
};

// At most 24 characters (tokens write one or two): every output ends well within max_tokens.
const char* const kRegex = "[a-f]{2,8}( [g-m]{1,4}){0,3}x";

TEST_F(CudaEngineGrammarTest, OutputsFollowTheirGrammarWithGraphsEagerlyAndAsync) {
  const auto grammar = compile_regex(kRegex);
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 8; ++i) {
    EngineRequest r = make_request("g" + std::to_string(i), {}, 48, i % 2 ? 0.9f : 0.0f);
    for (int t = 0; t < 10 + 7 * i; ++t) r.prompt_token_ids.push_back((t * 37 + i * 101 + 5) % (kGrammarVocab - 1));
    r.sampling.seed = 70 + i;
    if (i < 6) r.sampling.grammar = grammar;  // two free rows share the batch
    if (i == 4) r.sampling.n = 2;
    requests.push_back(std::move(r));
  }
  const auto graphs = run(false, false, requests);
  const auto eager = run(false, true, requests);
  const auto async = run(true, false, requests);
  for (const auto* results : {&graphs, &eager, &async}) {
    for (int i = 0; i < 6; ++i) {
      ASSERT_EQ((*results)[i].error, "") << i;
      for (const auto& [index, choice] : (*results)[i].choices) {
        SCOPED_TRACE("request " + std::to_string(i) + " choice " + std::to_string(index) + ": " + text_of(choice.tokens));
        grammar::GrammarMatcher matcher(grammar);
        for (int32_t t : choice.tokens) EXPECT_TRUE(matcher.accept_token(t));
        ASSERT_EQ(choice.finish_reason, FinishReason::kStop);
        ASSERT_EQ(choice.tokens.back(), kEndToken);
        EXPECT_TRUE(std::regex_match(text_of({choice.tokens.begin(), choice.tokens.end() - 1}), std::regex(kRegex)));
      }
    }
  }
  // The same batches every step: async scheduling changes nothing (the constrained rows wait for
  // their tokens; the free rows are fed on the device).
  for (int i = 0; i < 8; ++i) {
    for (const auto& [index, choice] : graphs[i].choices) {
      EXPECT_EQ(choice.tokens, async[i].choices.at(index).tokens) << "request " << i << " choice " << index;
    }
  }
}

}  // namespace
}  // namespace kiln::testing
