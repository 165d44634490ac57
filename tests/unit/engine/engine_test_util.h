// Helpers for tests that drive a real Engine over the FakeModelExecutor.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/fake_model_executor.h"
#include "engine/request_stream.h"
#include "engine/sampler.h"

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

class GatedExecutor : public ModelExecutor {
 public:
  GatedExecutor(std::unique_ptr<ModelExecutor> inner, std::shared_ptr<StepGate> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status execute(const ForwardBatch& batch, std::vector<float>* logits) override {
    gate_->wait();
    return inner_->execute(batch, logits);
  }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  std::shared_ptr<StepGate> gate_;
};

// Runs each step on a worker thread between launch_and_sample() and collect_sampled(), as a
// device queue does, so the engine's overlapped order (the next step computing while the host
// makes the last one's text) runs for real.
class AsyncSamplingExecutor : public ModelExecutor {
 public:
  AsyncSamplingExecutor(std::unique_ptr<ModelExecutor> inner, std::function<void()> on_launch)
      : inner_(std::move(inner)), on_launch_(std::move(on_launch)) {}
  ~AsyncSamplingExecutor() override {
    if (in_flight_.valid()) in_flight_.wait();
  }
  int vocab_size() const override { return inner_->vocab_size(); }
  Status execute(const ForwardBatch& batch, std::vector<float>* logits) override {
    return inner_->execute(batch, logits);
  }
  bool samples_on_device() const override { return true; }
  bool launches_async() const override { return true; }
  Status execute_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling,
                            std::vector<float>* other_logits, std::vector<SampledRow>* sampled) override {
    return Status::error("the engine must launch and collect an asynchronous backend's steps");
  }
  Status launch_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling) override {
    if (in_flight_.valid()) return Status::error("launched while a step is in flight");
    if (on_launch_) on_launch_();
    in_flight_ = std::async(std::launch::async, [this, batch, sampling] {
      StepResult r;
      r.status = inner_->execute_and_sample(batch, sampling, &r.other_logits, &r.sampled);
      return r;
    });
    return ok_status();
  }
  Status collect_sampled(std::vector<float>* other_logits, std::vector<SampledRow>* sampled) override {
    if (!in_flight_.valid()) return Status::error("collected with no step in flight");
    StepResult r = in_flight_.get();
    *other_logits = std::move(r.other_logits);
    *sampled = std::move(r.sampled);
    return r.status;
  }

 private:
  struct StepResult {
    Status status;
    std::vector<float> other_logits;
    std::vector<SampledRow> sampled;
  };
  std::unique_ptr<ModelExecutor> inner_;
  std::function<void()> on_launch_;
  std::future<StepResult> in_flight_;
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
  bool device_sampling = false;  // sample through DeviceSamplingExecutor instead of the engine
  std::shared_ptr<StepGate> gate;  // when set, no step runs until the gate is released
  bool async_steps = false;  // device sampling through AsyncSamplingExecutor: overlapped steps
  std::function<void()> on_launch;  // with async_steps: called on the engine thread at each launch
};

// Samples "on the device" with the sampling operator's CPU twin, as a device backend does: the
// engine's execute_and_sample path with the fake model's logits.
class DeviceSamplingExecutor : public ModelExecutor {
 public:
  explicit DeviceSamplingExecutor(std::unique_ptr<ModelExecutor> inner) : inner_(std::move(inner)) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status execute(const ForwardBatch& batch, std::vector<float>* logits) override {
    return inner_->execute(batch, logits);
  }
  bool samples_on_device() const override { return true; }
  Status execute_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling,
                            std::vector<float>* other_logits, std::vector<SampledRow>* sampled) override {
    std::vector<float> logits;
    KILN_RETURN_IF_ERROR(inner_->execute(batch, &logits));
    const size_t vocab = static_cast<size_t>(vocab_size());
    sampled->resize(sampling.rows.size());
    cpu::sample_rows(logits.data(), vocab_size(), sampling.rows, sampling.adjustments, sampled->data());
    std::vector<bool> is_sampled(batch.logits_indices.size(), false);
    for (const SamplingRowParams& row : sampling.rows) is_sampled[static_cast<size_t>(row.logits_row)] = true;
    other_logits->clear();
    for (size_t r = 0; r < is_sampled.size(); ++r) {
      if (!is_sampled[r]) other_logits->insert(other_logits->end(), logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
    }
    ++num_sampling_steps_;
    return ok_status();
  }
  int64_t num_sampling_steps() const { return num_sampling_steps_; }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  int64_t num_sampling_steps_ = 0;
};

// Delays each step of the wrapped executor.
class SlowExecutor : public ModelExecutor {
 public:
  SlowExecutor(std::unique_ptr<ModelExecutor> inner, int delay_ms)
      : inner_(std::move(inner)), delay_ms_(delay_ms) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status execute(const ForwardBatch& batch, std::vector<float>* logits) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    return inner_->execute(batch, logits);
  }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  int delay_ms_;
};

inline std::unique_ptr<Engine> make_engine(const EngineOptions& o = {}) {
  EngineConfig config;
  config.scheduler = {o.max_num_batched_tokens, o.max_num_seqs, o.max_model_len};
  config.block_size = o.block_size;
  config.num_blocks = o.num_blocks;
  config.enable_prefix_caching = o.enable_prefix_caching;
  config.generation_defaults = o.defaults;
  config.stats_log_interval_s = 0;
  std::unique_ptr<ModelExecutor> executor =
      std::make_unique<FakeModelExecutor>(kVocab, o.num_blocks, o.block_size);
  if (o.step_delay_ms > 0) executor = std::make_unique<SlowExecutor>(std::move(executor), o.step_delay_ms);
  if (o.gate) executor = std::make_unique<GatedExecutor>(std::move(executor), o.gate);
  if (o.device_sampling) executor = std::make_unique<DeviceSamplingExecutor>(std::move(executor));
  if (o.async_steps) {
    if (!o.device_sampling) executor = std::make_unique<DeviceSamplingExecutor>(std::move(executor));
    executor = std::make_unique<AsyncSamplingExecutor>(std::move(executor), o.on_launch);
  }
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
