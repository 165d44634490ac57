// The engine: one thread owns the scheduler, the KV cache bookkeeping and the backend, and runs
// steps (schedule -> build ForwardBatch -> execute -> sample -> detokenize and check stops ->
// emit outputs) while there is work. submit() and abort() from any thread go through a queue
// the engine thread drains at the start of every step; outputs go back through each request's
// callback, called on the engine thread.
//
// n > 1: a request becomes n sequences. Choice 0 computes the prompt; the others wait until it
// has, then take the prompt's full blocks from the prefix cache (shared, reference-counted) and
// recompute only the partial last block. Each choice draws from its own seed stream (seed + i).
// With prefix caching off, every choice computes its own prompt.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/detokenizer.h"
#include "engine/engine_client.h"
#include "engine/generation_defaults.h"
#include "engine/model_executor.h"
#include "engine/scheduler.h"
#include "kvcache/kv_cache_manager.h"

namespace kiln {

struct EngineConfig {
  SchedulerConfig scheduler;
  int block_size = 16;
  int64_t num_blocks = 0;  // from the memory plan
  bool enable_prefix_caching = true;
  GenerationDefaults generation_defaults;
  double stats_log_interval_s = 5.0;  // the throughput line while busy; 0 = never
  // vLLM's --seed: requests without a seed get per-request seeds drawn from a generator seeded
  // with it, so the same requests in the same order sample the same tokens. Unset: random.
  std::optional<uint64_t> seed;
};

class Engine : public EngineClient {
 public:
  // `detokenizer` may be empty: outputs then carry token ids only and stop strings never match.
  Engine(const EngineConfig& config, std::unique_ptr<ModelExecutor> executor,
         DetokenizerFactory detokenizer);
  ~Engine() override;  // aborts what is left and joins the engine thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Status submit(EngineRequest request, OutputCallback on_output) override;
  void abort(const std::string& request_id) override;
  EngineStats stats() const override;

 private:
  struct Choice;
  struct RequestState;
  struct LaunchedStep;
  // A generated token whose text (detokenizing, stop strings) is still to be made.
  struct TokenText {
    RequestState* req = nullptr;
    int choice_index = 0;
    int32_t token_id = 0;
    bool past_min_tokens = false;
    bool is_stop_token = false;  // EOS or one of stop_token_ids, past min_tokens
  };

  void loop();
  void admit(EngineRequest request, OutputCallback on_output);
  void handle_abort(const std::string& request_id);
  // Collects the step in flight, launches the next and makes the collected tokens' text.
  void step();
  // Schedules and hands the next step to the backend (which may run it right away).
  void launch_step();
  // Waits for the launched step and applies its tokens: everything the next schedule depends on
  // (token ids, stop tokens, lengths), leaving the text for make_text().
  void collect_step(std::vector<TokenText>* texts, std::vector<RequestState*>* touched);
  // Notes the first scheduling of newly admitted requests (their queue time).
  void record_first_scheduled(const SchedulerOutput& out);
  TokenText apply_token(RequestState& req, Choice& choice, int32_t token_id,
                        std::optional<TokenLogprob> logprob);
  // Detokenizes and checks stop strings; a match finishes the choice, perhaps one step late.
  void make_text(const TokenText& text);
  void finish_choice(RequestState& req, Choice& choice, FinishReason reason);
  void fail_request(RequestState& req, const std::string& message);
  void emit(RequestState& req);
  void retire_finished();
  void update_stats();
  void maybe_log_stats(bool force);

  const EngineConfig config_;
  std::unique_ptr<ModelExecutor> executor_;
  DetokenizerFactory detokenizer_;

  // Engine-thread state.
  KvCacheManager kv_cache_;
  Scheduler scheduler_;
  std::unordered_map<std::string, std::unique_ptr<RequestState>> requests_;
  std::unordered_map<int64_t, std::pair<RequestState*, int>> seq_owner_;
  int64_t next_seq_id_ = 0;
  int64_t next_arrival_ = 0;
  std::mt19937_64 seed_source_{std::random_device{}()};  // seeds of requests without one
  std::vector<float> logits_;
  std::vector<SampledRow> sampled_;  // rows sampled by the backend (device sampling)
  std::unique_ptr<LaunchedStep> launched_;
  int64_t prompt_tokens_total_ = 0;
  int64_t generation_tokens_total_ = 0;
  double last_log_s_ = 0;
  int64_t logged_prompt_tokens_ = 0;
  int64_t logged_generation_tokens_ = 0;
  bool busy_since_log_ = false;

  // Shared with submitting threads.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<EngineRequest, OutputCallback>> inbox_;
  std::vector<std::string> abort_inbox_;
  std::unordered_set<std::string> live_ids_;
  bool stopping_ = false;
  EngineStats stats_;

  std::thread thread_;
};

}  // namespace kiln
