// An EngineClient double: a worker thread answers each request with max_tokens tokens "a", "b",
// ... one output per token, unless the prompt's first text token is 'H' (hold): then it produces a
// token every 5 ms until aborted or released. A prompt holding "ERR" fails after two tokens, as
// the engine fails a request whose step failed (finish reason error, RequestOutput::error set).
// Every request's first output carries a queue time of kFakeQueueTimeS.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "engine/engine_client.h"

namespace kiln::testing {

inline constexpr double kFakeQueueTimeS = 0.125;

class FakeEngine : public EngineClient {
 public:
  FakeEngine() : worker_([this] { loop(); }) {}
  ~FakeEngine() override { shutdown(); }

  void shutdown() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
    std::lock_guard lock(mutex_);
    live_.clear();
  }

  Status submit(EngineRequest request, OutputCallback on_output) override {
    std::lock_guard lock(mutex_);
    if (request.sampling.max_tokens > 1000) return Status::error("too many tokens for the fake engine");
    submitted_.push_back(request.request_id);
    live_.push_back(Live{std::move(request), std::move(on_output), 0});
    cv_.notify_all();
    return ok_status();
  }

  void abort(const std::string& request_id) override {
    std::lock_guard lock(mutex_);
    aborted_.insert(request_id);
    cv_.notify_all();
  }

  EngineStats stats() const override {
    std::lock_guard lock(mutex_);
    EngineStats stats;
    stats.num_running = static_cast<int>(live_.size());
    stats.generation_tokens_total = tokens_;
    return stats;
  }

  void release_held() {
    held_released_ = true;
    cv_.notify_all();
  }
  bool was_aborted(const std::string& id) const {
    std::lock_guard lock(mutex_);
    return aborted_.count(id) > 0;
  }
  size_t num_aborted() const {
    std::lock_guard lock(mutex_);
    return aborted_.size();
  }
  std::vector<std::string> submitted() const {
    std::lock_guard lock(mutex_);
    return submitted_;
  }

 private:
  struct Live {
    EngineRequest request;
    OutputCallback callback;
    int produced;
  };

  void loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (live_.empty()) {
        cv_.wait(lock);
        continue;
      }
      for (auto it = live_.begin(); it != live_.end();) {
        Live& live = *it;
        const auto& ids = live.request.prompt_token_ids;
        const bool hold = (!ids.empty() && ids[0] == 'H') || (ids.size() > 1 && ids[0] == 256 && ids[1] == 'H');
        const std::vector<int32_t> err = {'E', 'R', 'R'};
        const bool fails = std::search(ids.begin(), ids.end(), err.begin(), err.end()) != ids.end();
        RequestOutput out;
        out.request_id = live.request.request_id;
        out.num_prompt_tokens = static_cast<int>(live.request.prompt_token_ids.size());
        if (live.produced == 0) out.queue_time_seconds = kFakeQueueTimeS;
        if (fails && live.produced == 2) {
          for (int choice = 0; choice < live.request.sampling.n; ++choice) {
            CompletionOutput c;
            c.index = choice;
            c.finish_reason = FinishReason::kError;
            c.num_output_tokens = live.produced;
            out.outputs.push_back(c);
          }
          out.finished = true;
          out.error = "fake engine failure";
          live.callback(out);
          it = live_.erase(it);
          continue;
        }
        for (int choice = 0; choice < live.request.sampling.n; ++choice) {
          CompletionOutput c;
          c.index = choice;
          c.new_token_ids = {'a' + live.produced % 26};
          c.text_delta = std::string(1, static_cast<char>('a' + live.produced % 26));
          c.num_output_tokens = live.produced + 1;
          out.outputs.push_back(c);
        }
        ++live.produced;
        ++tokens_;
        bool done = false;
        if (aborted_.count(live.request.request_id)) {
          for (auto& c : out.outputs) c.finish_reason = FinishReason::kAbort;
          done = true;
        } else if (hold ? held_released_.load() : live.produced >= live.request.sampling.max_tokens) {
          for (auto& c : out.outputs) c.finish_reason = hold ? FinishReason::kStop : FinishReason::kLength;
          done = true;
        }
        out.finished = done;
        live.callback(out);
        it = done ? live_.erase(it) : std::next(it);
      }
      cv_.wait_for(lock, std::chrono::milliseconds(2));
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Live> live_;
  std::vector<std::string> submitted_;
  std::set<std::string> aborted_;
  int64_t tokens_ = 0;
  bool stopping_ = false;
  std::atomic<bool> held_released_{false};
  std::thread worker_;
};

}  // namespace kiln::testing
