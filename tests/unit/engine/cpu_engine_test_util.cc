#include "cpu_engine_test_util.h"

#include <random>
#include <system_error>
#include <utility>

#include "engine/cpu_model_executor.h"
#include "model/synth_model.h"

namespace kiln::testing {

TempDir::TempDir(const std::string& prefix)
    : path_(std::filesystem::temp_directory_path() / (prefix + std::to_string(std::random_device{}()))) {}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

Status synth_tiny_llama(const std::filesystem::path& out_dir) {
  SynthOptions options;
  options.config_path = std::filesystem::path(KILN_SOURCE_DIR) / "tests/data/configs/tiny-llama.json";
  options.out_dir = out_dir;
  options.dtype = DType::kF32;
  options.stddev = 0.5;
  options.show_progress = false;
  options.num_threads = 1;
  auto report = synth_model(options);
  return report.ok() ? ok_status() : Status::error(report.message());
}

Result<std::unique_ptr<TinyLlama>> TinyLlama::create(const std::string& dir_prefix, const std::string& model_subdir) {
  auto llama = std::make_unique<TinyLlama>(dir_prefix);
  llama->model_dir = model_subdir.empty() ? llama->dir.path() : llama->dir.path() / model_subdir;
  KILN_RETURN_IF_ERROR(synth_tiny_llama(llama->model_dir));
  LoadOptions load;
  load.prefault = false;
  load.show_progress = false;
  KILN_ASSIGN_OR_RETURN(llama->model, load_model(llama->model_dir, load));
  return llama;
}

CpuModelOptions cpu_model_options(const ModelConfig& config, const CpuEngineOptions& options) {
  CpuModelOptions cpu;
  cpu.num_blocks = options.num_blocks;
  cpu.block_size = 16;
  cpu.num_threads = 1;
  cpu.kv_cache_dtype = options.kv_cache_dtype;
  if (options.kv_cache_dtype == DType::kF8E4M3) cpu.kv_scales.assign(2 * config.num_hidden_layers, 0.05f);
  return cpu;
}

std::unique_ptr<Engine> cpu_engine_over(std::unique_ptr<ModelExecutor> executor, const CpuEngineOptions& options) {
  EngineConfig config;
  config.scheduler = options.scheduler;
  config.num_blocks = options.num_blocks;
  config.stats_log_interval_s = 0;
  config.async_scheduling = options.async_scheduling;
  config.enable_prefix_caching = options.enable_prefix_caching;
  config.speculative = options.speculative;
  config.make_draft_proposer = options.make_draft_proposer;
  if (options.gate) executor = std::make_unique<GatedExecutor>(std::move(executor), options.gate);
  if (options.async_scheduling) executor = std::make_unique<WorkerThreadExecutor>(std::move(executor), nullptr);
  return std::make_unique<Engine>(config, std::move(executor), nullptr);
}

std::unique_ptr<Engine> make_cpu_engine(const LoadedModel& model, const CpuEngineOptions& options) {
  auto cpu = CpuModel::create(model.config, model.weights, cpu_model_options(model.config, options));
  EXPECT_TRUE(cpu.ok()) << cpu.message();
  return cpu_engine_over(std::make_unique<CpuModelExecutor>(std::move(cpu).value()), options);
}

std::vector<EngineRequest> prefix_sharing_requests(int max_tokens) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 5; ++i) {
    std::vector<int32_t> p;
    for (int t = 0; t < 6 + 9 * i; ++t) p.push_back((t * 37 + i * 101 + 5) % 512);
    if (i >= 3) p.insert(p.begin(), 32, 7);
    EngineRequest r = make_request("r" + std::to_string(i), p, max_tokens);
    r.sampling.logprobs = 2;
    requests.push_back(r);
  }
  return requests;
}

void expect_same_tokens_and_logprobs(const std::vector<RequestResult>& expected, const std::vector<RequestResult>& actual) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const ChoiceResult& want = expected[i].choices.at(0);
    const ChoiceResult& got = actual[i].choices.at(0);
    EXPECT_EQ(got.tokens, want.tokens) << i;
    ASSERT_EQ(got.logprobs.size(), want.logprobs.size()) << i;
    for (size_t t = 0; t < want.logprobs.size(); ++t) {
      EXPECT_FLOAT_EQ(got.logprobs[t].logprob, want.logprobs[t].logprob) << i << " " << t;
    }
  }
}

}  // namespace kiln::testing
