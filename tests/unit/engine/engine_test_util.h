// Helpers for tests that drive a real Engine over the FakeModelExecutor.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/prompt_logprobs.h"
#include "engine/request_stream.h"
#include "fake_model_executor.h"

namespace kiln::testing {

inline constexpr int kVocab = 101;

// Token t reads as one letter, and every fifth token adds a space, so stop strings can span
// token boundaries.
inline std::string piece(int32_t t) {
  return std::string(1, static_cast<char>('a' + t % 26)) + (t % 5 == 0 ? " " : "");
}

// The text the fake detokenizer gives for `tokens`.
inline std::string text_of(const std::vector<int32_t>& tokens) {
  std::string text;
  for (int32_t t : tokens) text += piece(t);
  return text;
}

class FakeDetokenizer : public IncrementalDetokenizer {
 public:
  std::string add(int32_t token_id) override { return piece(token_id); }
};

// Holds every step until released. A test that needs its requests scheduled together (to force
// preemption, say) submits them all behind a closed gate: otherwise a busy CI machine may let the
// engine finish the first requests before the test thread has submitted the last ones.
class StepGate {
 public:
  void release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

// Forwards to the wrapped executor, holding every launch until the gate opens.
class GatedExecutor : public ModelExecutor {
 public:
  GatedExecutor(std::unique_ptr<ModelExecutor> inner, std::shared_ptr<StepGate> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status launch(const StepInput& input) override {
    gate_->wait();
    return inner_->launch(input);
  }
  Status collect(StepResult* result) override { return inner_->collect(result); }
  bool runs_asynchronously() const override { return inner_->runs_asynchronously(); }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  std::shared_ptr<StepGate> gate_;
};

// Delays each launch of the wrapped executor.
class SlowExecutor : public ModelExecutor {
 public:
  SlowExecutor(std::unique_ptr<ModelExecutor> inner, int delay_ms) : inner_(std::move(inner)), delay_ms_(delay_ms) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status launch(const StepInput& input) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    return inner_->launch(input);
  }
  Status collect(StepResult* result) override { return inner_->collect(result); }
  bool runs_asynchronously() const override { return inner_->runs_asynchronously(); }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  int delay_ms_;
};

// Runs the wrapped executor's steps on a worker thread, one after another in launch order, as a
// device queue does: launch() returns at once and collect() waits, so the engine's async
// scheduling (the next step launched while the host processes the last one's tokens) runs for
// real. on_launch is called on the engine thread at each launch with the number of steps the
// engine has collected so far.
class WorkerThreadExecutor : public ModelExecutor {
 public:
  WorkerThreadExecutor(std::unique_ptr<ModelExecutor> inner, std::function<void(int64_t)> on_launch)
      : inner_(std::move(inner)), on_launch_(std::move(on_launch)), worker_([this] { run(); }) {}
  ~WorkerThreadExecutor() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }
  int vocab_size() const override { return inner_->vocab_size(); }
  bool runs_asynchronously() const override { return true; }
  Status launch(const StepInput& input) override {
    if (on_launch_) on_launch_(num_collected_);
    std::promise<std::pair<Status, StepResult>> promise;
    results_.push_back(promise.get_future());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.emplace_back(input, std::move(promise));
    }
    wake_.notify_all();
    return ok_status();
  }
  Status collect(StepResult* result) override {
    if (results_.empty()) return Status::error("collect() without a launched step");
    auto [status, step] = results_.front().get();
    results_.pop_front();
    ++num_collected_;
    *result = std::move(step);
    return status;
  }

 private:
  void run() {
    while (true) {
      std::pair<StepInput, std::promise<std::pair<Status, StepResult>>> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      StepResult result;
      Status status = inner_->launch(task.first);
      if (status.ok()) status = inner_->collect(&result);
      task.second.set_value({status, std::move(result)});
    }
  }

  std::unique_ptr<ModelExecutor> inner_;
  std::function<void(int64_t)> on_launch_;
  std::deque<std::future<std::pair<Status, StepResult>>> results_;  // engine thread only
  int64_t num_collected_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<StepInput, std::promise<std::pair<Status, StepResult>>>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

struct EngineOptions {
  int num_blocks = 256;
  int block_size = 16;
  int max_num_batched_tokens = 64;
  int max_num_seqs = 256;
  int max_model_len = 1024;
  bool enable_prefix_caching = true;
  GenerationDefaults defaults;
  int step_delay_ms = 0;  // slows every step, for tests that must act while a request runs
  std::shared_ptr<StepGate> gate;  // when set, no step runs until the gate is released
  bool async_scheduling = false;   // EngineConfig::async_scheduling
  bool worker_thread = false;      // steps run on a WorkerThreadExecutor (an asynchronous backend)
  // With worker_thread: called on the engine thread at each launch with the steps collected so far.
  std::function<void(int64_t)> on_launch;
  int vocab = kVocab;  // the fake model's vocabulary
  SpeculativeConfig speculative;  // EngineConfig::speculative (resolved by the test)
  std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer;
  // Wraps the executor last (a test's own instrumentation).
  std::function<std::unique_ptr<ModelExecutor>(std::unique_ptr<ModelExecutor>)> wrap_executor;
};

inline std::unique_ptr<Engine> make_engine(const EngineOptions& o = {}) {
  EngineConfig config;
  config.scheduler = {o.max_num_batched_tokens, o.max_num_seqs, o.max_model_len};
  config.block_size = o.block_size;
  config.num_blocks = o.num_blocks;
  config.enable_prefix_caching = o.enable_prefix_caching;
  config.generation_defaults = o.defaults;
  config.stats_log_interval_s = 0;
  config.async_scheduling = o.async_scheduling;
  config.speculative = o.speculative;
  config.make_draft_proposer = o.make_draft_proposer;
  std::unique_ptr<ModelExecutor> executor =
      std::make_unique<FakeModelExecutor>(o.vocab, o.num_blocks, o.block_size);
  if (o.step_delay_ms > 0) executor = std::make_unique<SlowExecutor>(std::move(executor), o.step_delay_ms);
  if (o.gate) executor = std::make_unique<GatedExecutor>(std::move(executor), o.gate);
  if (o.worker_thread) executor = std::make_unique<WorkerThreadExecutor>(std::move(executor), o.on_launch);
  if (o.wrap_executor) executor = o.wrap_executor(std::move(executor));
  return std::make_unique<Engine>(
      config, std::move(executor),
      [](std::span<const int32_t>, bool) { return std::make_unique<FakeDetokenizer>(); });
}

struct ChoiceResult {
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<std::string> deltas;
  std::vector<TokenLogprob> logprobs;
  FinishReason finish_reason = FinishReason::kNone;
  std::variant<std::monostate, std::string, int32_t> stop_reason;
};

struct RequestResult {
  std::map<int, ChoiceResult> choices;
  std::optional<std::vector<std::optional<TokenLogprob>>> prompt_logprobs;
  int num_cached_tokens = 0;
  int num_outputs = 0;
  std::string error;
};

inline EngineRequest make_request(const std::string& id, std::vector<int32_t> prompt,
                                  int max_tokens, float temperature = 0.0f) {
  EngineRequest r;
  r.request_id = id;
  r.prompt_token_ids = std::move(prompt);
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = temperature;
  return r;
}

inline std::vector<int32_t> make_prompt(int length, int salt) {
  std::vector<int32_t> p;
  for (int i = 0; i < length; ++i) p.push_back((i * 7 + salt * 13 + 3) % kVocab);
  return p;
}

inline void accumulate(RequestResult* result, RequestOutput out) {
  ++result->num_outputs;
  if (out.prompt_logprobs) result->prompt_logprobs = std::move(out.prompt_logprobs);
  result->num_cached_tokens = out.num_cached_tokens;
  if (!out.error.empty()) result->error = out.error;
  for (CompletionOutput& c : out.outputs) {
    ChoiceResult& choice = result->choices[c.index];
    choice.tokens.insert(choice.tokens.end(), c.new_token_ids.begin(), c.new_token_ids.end());
    choice.text += c.text_delta;
    choice.deltas.push_back(c.text_delta);
    for (auto& lp : c.logprobs) choice.logprobs.push_back(lp);
    if (c.finish_reason != FinishReason::kNone) {
      choice.finish_reason = c.finish_reason;
      choice.stop_reason = c.stop_reason;
    }
  }
}

// Submits all requests (so they run concurrently), then reads every stream to its end.
// Submits every request, releases `gate` (if any) once all are in, and collects the outputs.
inline std::vector<RequestResult> run_all(Engine* engine, std::vector<EngineRequest> requests,
                                          StepGate* gate = nullptr) {
  std::vector<std::unique_ptr<RequestStream>> streams;
  for (EngineRequest& r : requests) {
    auto stream = RequestStream::open(engine, std::move(r));
    EXPECT_TRUE(stream.ok()) << stream.message();
    streams.push_back(std::move(stream).value());
  }
  if (gate != nullptr) gate->release();
  std::vector<RequestResult> results(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    while (auto out = streams[i]->next()) accumulate(&results[i], std::move(*out));
  }
  return results;
}

inline RequestResult run_alone(EngineRequest request, const EngineOptions& options = {}) {
  auto engine = make_engine(options);
  std::vector<EngineRequest> one;
  one.push_back(std::move(request));
  return run_all(engine.get(), std::move(one))[0];
}

// Greedy tokens computed straight from the fake model, without the engine.
inline std::vector<int32_t> reference_greedy(const std::vector<int32_t>& prompt, int max_tokens) {
  FakeModelExecutor model(kVocab, 1, 1);
  std::vector<int32_t> history = prompt;
  std::vector<int32_t> out;
  for (int i = 0; i < max_tokens; ++i) {
    const auto logits = model.logits_for(history);
    int32_t best = 0;
    for (int v = 1; v < kVocab; ++v) {
      if (logits[v] > logits[best]) best = v;
    }
    out.push_back(best);
    history.push_back(best);
  }
  return out;
}

}  // namespace kiln::testing
