// The engine: one thread owns the scheduler, the KV cache bookkeeping and the backend, and runs
// steps while there is work: schedule -> build the StepInput (model_runner) -> launch on the
// backend -> collect the sampled tokens -> process them (output_processor: stop tokens, length,
// detokenizing, stop strings) -> emit outputs. submit() and abort() from any thread go through a
// queue the engine thread drains at the start of every step; outputs go back through each
// request's callback, called on the engine thread.
//
// With async_scheduling (vLLM's --async-scheduling) the engine launches step N+1 before it
// collects step N: step N+1's decodes take step N's tokens on the device, and the host processes
// step N's tokens while the device computes. A sequence that turns out to have finished at step
// N (a stop token, a stop string) then has one more token computed in step N+1, which is dropped:
// never counted, never sent. A sequence whose sampling reads its generated tokens (penalties)
// makes the engine collect first, since its next sampling row needs the last token.
//
// Speculative decoding (config.speculative, engine/spec/): after a step, each sequence it ran
// gets drafts for its next step (while no more sequences run than the method's batch limit); that
// step feeds them after the last token and samples a row at each position, verifying each draft
// by rejection sampling (kernels/sampling.h); the accepted drafts and the token after them are
// applied, the rejected positions given back. Greedy outputs are identical with and without it,
// sampled ones follow the same distribution. A speculating step is collected before the next
// one is scheduled, since drafting needs its tokens on the host.
//
// n > 1: a request becomes n sequences. Choice 0 computes the prompt; the others wait until it
// has, then take the prompt's full blocks from the prefix cache (shared, reference-counted) and
// recompute only the partial last block. Each choice draws from its own seed stream (seed + i).
// With prefix caching off, every choice computes its own prompt.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
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
#include "engine/model_runner.h"
#include "engine/request_state.h"
#include "engine/scheduler.h"
#include "engine/spec/backend_draft_proposer.h"
#include "engine/spec/speculator.h"
#include "engine/stat_logger.h"
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
  // Launch each step before collecting the previous one (see above). Unset: when the backend
  // runs asynchronously.
  std::optional<bool> async_scheduling;
  // Speculative decoding (engine/spec/), resolved; off when its method is empty.
  SpeculativeConfig speculative;
  // Where drafts come from when set (the benchmark's oracle); unset: the method's own proposer.
  std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer;
  // Threads that write structured outputs' token masks: 0 = half the cores, 2 to 8; 1 = on the
  // engine thread (bench/engine_bench compares the two).
  int grammar_mask_threads = 0;
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
  // A step handed to the backend and not yet collected.
  struct LaunchedStep {
    SchedulerOutput schedule;
    PreparedStep prepared;            // its input is released once launched
    std::vector<int> token_position;  // per scheduled sequence: where its sampled token goes, or -1
    int num_sampling_rows = 0;
    Status launch_status;             // not ok: nothing was launched and nothing is collected
    std::vector<int64_t> draft_seq_ids;  // EAGLE-3: StepInput::draft_sequences' ids, in order
  };

  void loop();
  void admit(EngineRequest request, OutputCallback on_output);
  void handle_abort(const std::string& request_id);
  void step();
  // Schedules and launches the next step; false when there was nothing to launch.
  bool launch_step();
  // Collects the oldest launched step and processes its tokens into outputs.
  void complete_step();
  void apply_step_result(const LaunchedStep& step, StepResult& result, std::vector<RequestState*>* touched);
  // Applies one sequence's sampled rows (the token, or with drafts the accepted drafts and the
  // token after them) until it finishes.
  void apply_sampled_rows(Sequence& seq, const ScheduledSequence& s, int position, std::span<const SampledRow> rows);
  // Speculative decoding (engine_speculation.cc). Makes the speculator and its proposer.
  void start_speculation();
  // Drafts for the next step of each sequence the step ran.
  void propose_drafts(const SchedulerOutput& out);
  // EAGLE-3: tells the backend which sequences it drafts for and which ended.
  void add_draft_sequences(const SchedulerOutput& out, LaunchedStep* step);
  // The accepted nodes of s's verified draft tree, in path order (its root at `position`); counts
  // them, gives back the rejected positions and queues the accepted nodes' K/V moves.
  std::vector<int> accept_drafts(const ScheduledSequence& s, int position, std::span<const SampledRow> rows);
  void record_first_scheduled(const SchedulerOutput& out);
  void finish(Sequence& seq, FinishReason reason);
  void fail_request(RequestState& req, const std::string& message);
  void emit(RequestState& req);
  void retire_finished();
  void drain_in_flight();
  void update_stats();

  const EngineConfig config_;
  std::unique_ptr<ModelExecutor> executor_;
  DetokenizerFactory detokenizer_;
  const bool async_scheduling_;

  // Engine-thread state.
  KvCacheManager kv_cache_;
  Scheduler scheduler_;
  std::unordered_map<std::string, std::unique_ptr<RequestState>> requests_;
  // Writes structured outputs' token masks in parallel (by default 2-8 threads, so CI runs the
  // parallel path too); made with the first constrained request.
  std::unique_ptr<cpu::ThreadPool> mask_pool_;
  std::vector<std::string> finished_request_ids_;  // to retire
  std::deque<LaunchedStep> in_flight_;             // launch order; at most two
  int64_t next_seq_id_ = 0;
  int64_t next_arrival_ = 0;
  std::mt19937_64 seed_source_{std::random_device{}()};  // seeds of requests without one
  int64_t prompt_tokens_total_ = 0;
  int64_t generation_tokens_total_ = 0;
  StatLogger stat_logger_;
  std::unique_ptr<Speculator> speculator_;  // null when speculative decoding is off
  // EAGLE-3: the speculator's proposer, fed with the drafts the backend returns; null otherwise.
  BackendDraftProposer* backend_drafts_ = nullptr;
  std::vector<int64_t> released_draft_seq_ids_;  // finished since the last launch
  // Draft trees' accepted nodes whose K/V the next launched step moves into place
  // (ForwardBatch::kv_move_from / kv_move_to).
  std::vector<int64_t> pending_kv_move_from_, pending_kv_move_to_;

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
