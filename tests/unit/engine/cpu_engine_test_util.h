// Helpers for the tests that drive the engine over the real CPU forward: a tiny random-weight
// Llama from `kiln synth` in a temporary folder, and engines over it.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"
#include "engine_test_util.h"
#include "model/cpu_model.h"
#include "model/model_loader.h"

namespace kiln::testing {

// A path under the temporary directory, named `prefix` and a random number, for a test suite's
// files (not created here); removed with everything in it when this goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes the Llama of tests/data/configs/tiny-llama.json (4 heads, 2 KV heads) to `out_dir` with
// f32 weights of stddev 0.5: peaked logits, so that greedy ties are unlikely.
Status synth_tiny_llama(const std::filesystem::path& out_dir);

// The tiny Llama synthesized into a TempDir (into its `model_subdir` when one is named) and
// loaded. A test suite makes one in SetUpTestSuite and shares it.
struct TinyLlama {
  explicit TinyLlama(const std::string& dir_prefix) : dir(dir_prefix) {}
  static Result<std::unique_ptr<TinyLlama>> create(const std::string& dir_prefix, const std::string& model_subdir = "");

  TempDir dir;
  std::filesystem::path model_dir;
  std::unique_ptr<LoadedModel> model;
};

// An engine over the CPU model, as the tests build it: one thread, blocks of 16 tokens, no stats
// log, no detokenizer.
struct CpuEngineOptions {
  int num_blocks = 64;
  SchedulerConfig scheduler = {24, 64, 256};  // 24 tokens a step: chunked prefill
  // An FP8 cache gets fixed scales, which keep every sequence's codes independent of its batch
  // (calculated ones would depend on the first step's tokens).
  DType kv_cache_dtype = DType::kF32;
  bool async_scheduling = false;  // the steps also run on a WorkerThreadExecutor
  bool enable_prefix_caching = true;
  std::shared_ptr<StepGate> gate;  // when set, no step runs until the test releases it
  SpeculativeConfig speculative;   // EngineConfig::speculative (resolved by the test)
  std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer;
};

CpuModelOptions cpu_model_options(const ModelConfig& config, const CpuEngineOptions& options);
// The engine over `executor`, wrapped in a GatedExecutor and a WorkerThreadExecutor as `options` says.
std::unique_ptr<Engine> cpu_engine_over(std::unique_ptr<ModelExecutor> executor, const CpuEngineOptions& options);
// Both: the CPU model of `model`, its executor and the engine over it.
std::unique_ptr<Engine> make_cpu_engine(const LoadedModel& model, const CpuEngineOptions& options);

// Five greedy requests for `max_tokens` tokens with 2 logprobs each, prompts of 6 to 42 tokens
// (ids below 512), the last two starting with the same two full blocks (prefix cache hits).
std::vector<EngineRequest> prefix_sharing_requests(int max_tokens);

// Each request's first choice has the tokens of `expected` and logprobs equal within a float ulp
// or so (EXPECT_FLOAT_EQ).
void expect_same_tokens_and_logprobs(const std::vector<RequestResult>& expected, const std::vector<RequestResult>& actual);

}  // namespace kiln::testing
