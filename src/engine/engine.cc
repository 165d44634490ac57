#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/output_processor.h"
#include "engine/prompt_logprobs.h"
#include "engine/sampling_rows.h"

namespace kiln {

Engine::Engine(const EngineConfig& config, std::unique_ptr<ModelExecutor> executor,
               DetokenizerFactory detokenizer)
    : config_(config),
      executor_(std::move(executor)),
      detokenizer_(std::move(detokenizer)),
      async_scheduling_(config.async_scheduling.value_or(executor_ != nullptr && executor_->runs_asynchronously())),
      kv_cache_(static_cast<int>(config.num_blocks), config.block_size, config.enable_prefix_caching),
      scheduler_(config.scheduler, &kv_cache_),
      stat_logger_(config.stats_log_interval_s) {
  KILN_CHECK(executor_ != nullptr);
  if (config_.seed) seed_source_.seed(*config_.seed);
  if (async_scheduling_) {
    KILN_LOG(Info) << "Asynchronous scheduling is enabled: each step launches before the previous step's tokens "
                      "reach the host (--no-async-scheduling turns it off)";
  }
  if (config_.speculative.enabled()) start_speculation();
  update_stats();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Status Engine::submit(EngineRequest request, OutputCallback on_output) {
  const SamplingParams& p = request.sampling;
  const std::string where = "request " + request.request_id;
  if (request.request_id.empty()) return Status::error("request_id must not be empty");
  if (request.prompt_token_ids.empty()) return Status::error(where + ": the prompt is empty");
  const int vocab = executor_->vocab_size();
  for (int32_t t : request.prompt_token_ids) {
    if (t < 0 || t >= vocab) {
      return Status::error(where + ": prompt token id " + std::to_string(t) +
                           " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  if (p.n < 1) return Status::error(where + ": n must be at least 1");
  if (p.max_tokens < 1) return Status::error(where + ": max_tokens must be at least 1");
  const int64_t total = static_cast<int64_t>(request.prompt_token_ids.size()) + p.max_tokens;
  if (total > config_.scheduler.max_model_len) {
    return Status::error(where + ": prompt (" + std::to_string(request.prompt_token_ids.size()) +
                         " tokens) plus max_tokens (" + std::to_string(p.max_tokens) +
                         ") exceeds max_model_len " +
                         std::to_string(config_.scheduler.max_model_len));
  }
  if (kv_cache_.blocks_for(static_cast<int>(total)) > config_.num_blocks) {
    return Status::error(where + ": needs " + std::to_string(kv_cache_.blocks_for(total)) +
                         " KV blocks but the cache has only " +
                         std::to_string(config_.num_blocks));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return Status::error("the engine is shutting down");
    if (!live_ids_.insert(request.request_id).second) {
      return Status::error(where + ": a request with this id is already running");
    }
    inbox_.emplace_back(std::move(request), std::move(on_output));
  }
  wake_.notify_all();
  return ok_status();
}

void Engine::abort(const std::string& request_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    abort_inbox_.push_back(request_id);
  }
  wake_.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Engine::loop() {
  while (true) {
    std::deque<std::pair<EngineRequest, OutputCallback>> inbox;
    std::vector<std::string> aborts;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto has_input = [&] { return stopping_ || !inbox_.empty() || !abort_inbox_.empty(); };
      if (!scheduler_.has_work() && in_flight_.empty()) {
        if (const std::optional<double> deadline = stat_logger_.next_deadline_s()) {
          // Idle after work: wake once more to log the interval that saw it.
          const double wait_s = std::max(0.0, *deadline - monotonic_seconds());
          wake_.wait_for(lock, std::chrono::duration<double>(wait_s), has_input);
        } else {
          wake_.wait(lock, has_input);
        }
      }
      inbox.swap(inbox_);
      aborts.swap(abort_inbox_);
      stopping = stopping_;
    }
    for (auto& [request, callback] : inbox) admit(std::move(request), std::move(callback));
    for (const std::string& id : aborts) handle_abort(id);
    if (!aborts.empty()) retire_finished();
    if (stopping) {
      drain_in_flight();
      for (auto& [id, req] : requests_) {
        for (auto& seq : req->choices) {
          if (!seq->finished) finish(*seq, FinishReason::kAbort);
        }
        emit(*req);
      }
      requests_.clear();
      update_stats();
      return;
    }
    if (scheduler_.has_work() || !in_flight_.empty()) step();
    update_stats();
    stat_logger_.maybe_log(stats(), scheduler_.has_work());
  }
}

void Engine::admit(EngineRequest request, OutputCallback on_output) {
  auto state = std::make_unique<RequestState>();
  RequestState& req = *state;
  req.request_id = request.request_id;
  req.on_output = std::move(on_output);
  req.params = request.sampling;
  req.prompt = std::move(request.prompt_token_ids);
  req.queued_s = monotonic_seconds();
  const int prompt_len = static_cast<int>(req.prompt.size());
  if (req.params.prompt_logprobs) req.prompt_logprobs.emplace(static_cast<size_t>(prompt_len));
  const int64_t arrival = next_arrival_++;
  if (req.params.grammar && !mask_pool_ && config_.grammar_mask_threads != 1) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    const int threads = config_.grammar_mask_threads > 1 ? config_.grammar_mask_threads : std::clamp(cores / 2, 2, 8);
    mask_pool_ = std::make_unique<cpu::ThreadPool>(threads);
  }
  const uint64_t base_seed = req.params.seed ? *req.params.seed : seed_source_();
  const int max_num_tokens = std::min(prompt_len + req.params.max_tokens, config_.scheduler.max_model_len);
  for (int i = 0; i < req.params.n; ++i) {
    auto seq = std::make_unique<Sequence>();
    seq->seq_id = next_seq_id_++;
    seq->request_id = req.request_id;
    seq->choice_index = i;
    seq->request = &req;
    seq->token_ids = req.prompt;
    seq->num_prompt_tokens = prompt_len;
    seq->max_num_tokens = max_num_tokens;
    seq->priority = request.priority;
    seq->speculative = request.speculative;
    seq->arrival_order = arrival;
    seq->wants_prompt_logprobs = i == 0 && req.prompt_logprobs.has_value() && prompt_len > 1;
    if (i > 0 && config_.enable_prefix_caching) seq->wait_for_seq_id = req.choices[0]->seq_id;
    seq->sampling = resolve_sampling(req.params, config_.generation_defaults, base_seed + static_cast<uint64_t>(i));
    if (req.params.grammar) seq->grammar = std::make_unique<SequenceGrammar>(req.params.grammar, req.params.grammar_after_token);
    if (detokenizer_) seq->detokenizer = detokenizer_(req.prompt, req.params.skip_special_tokens);
    seq->stopper = StopStringChecker(req.params.stop, req.params.include_stop_str_in_output);
    seq->pending.index = i;
    scheduler_.add(seq.get());
    req.choices.push_back(std::move(seq));
  }
  requests_.emplace(req.request_id, std::move(state));
}

void Engine::handle_abort(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  RequestState& req = *it->second;
  if (req.finished) return;  // its last output is out; it retires with this batch of aborts
  for (auto& seq : req.choices) {
    if (!seq->finished) finish(*seq, FinishReason::kAbort);
  }
  update_stats();  // before the output, so a consumer that saw its last output sees its blocks freed
  emit(req);
}

void Engine::finish(Sequence& seq, FinishReason reason) {
  if (speculator_) speculator_->on_finished(seq, reason == FinishReason::kStop || reason == FinishReason::kLength);
  if (backend_drafts_ != nullptr) released_draft_seq_ids_.push_back(seq.seq_id);
  finish_sequence(seq, reason);
  scheduler_.finish(seq.seq_id);  // frees its blocks now
  if (seq.request != nullptr && seq.request->finished) finished_request_ids_.push_back(seq.request->request_id);
}

void Engine::fail_request(RequestState& req, const std::string& message) {
  req.error = message;
  for (auto& seq : req.choices) {
    if (!seq->finished) finish(*seq, FinishReason::kError);
  }
}

void Engine::step() {
  // The step in flight goes first when the next one cannot be built without its tokens on the
  // host: always without async scheduling, when a sequence's penalties need them, and when its
  // launch failed (there are no samples on the device to feed from).
  if (!in_flight_.empty() && (!async_scheduling_ || in_flight_.back().prepared.next_step_needs_tokens ||
                              !in_flight_.back().launch_status.ok())) {
    complete_step();
  }
  const bool launched = launch_step();
  // With async scheduling the step before the one just launched completes while that one runs;
  // a step with no successor completes now.
  if (in_flight_.size() > 1 || (!launched && !in_flight_.empty())) complete_step();
}

bool Engine::launch_step() {
  if (!scheduler_.has_work()) return false;
  SchedulerOutput out = scheduler_.schedule();
  if (out.empty()) return false;  // preempted everything it had, or every token is in flight
  stat_logger_.note_busy();
  record_first_scheduled(out);
  LaunchedStep step;
  step.prepared = prepare_step(out, scheduler_, executor_->vocab_size(), mask_pool_.get());
  step.num_sampling_rows = static_cast<int>(step.prepared.input.sampling_rows.size());
  // Drafting for the next step needs this step's tokens on the host.
  if (speculator_ && speculator_->active(scheduler_.num_running())) {
    for (size_t i = 0; i < out.sequences.size() && !step.prepared.next_step_needs_tokens; ++i) {
      const Sequence* seq = scheduler_.find(out.sequences[i].seq_id);
      step.prepared.next_step_needs_tokens = step.prepared.rows[i].sample_row >= 0 && speculator_->wants_tokens(*seq);
    }
  }
  if (backend_drafts_ != nullptr) add_draft_sequences(out, &step);
  // Before this step's forward reads or writes the cache, the last collected draft trees'
  // accepted nodes move to their sequences' consecutive slots. Those sequences are not in a step
  // launched before that collection (their drafts' positions were still in flight), so nothing
  // between reads the old slots; a sequence that finished meanwhile only had its free blocks
  // written, before anything of this step's is.
  ForwardBatch& batch = step.prepared.input.batch;
  batch.kv_move_from = std::move(pending_kv_move_from_);
  batch.kv_move_to = std::move(pending_kv_move_to_);
  pending_kv_move_from_.clear();
  pending_kv_move_to_.clear();
  step.launch_status = executor_->launch(step.prepared.input);
  if (!step.launch_status.ok()) {  // the backend never saw them: the next launch carries them
    released_draft_seq_ids_.insert(released_draft_seq_ids_.end(), step.prepared.input.released_seq_ids.begin(),
                                   step.prepared.input.released_seq_ids.end());
    pending_kv_move_from_ = std::move(batch.kv_move_from);
    pending_kv_move_to_ = std::move(batch.kv_move_to);
  }
  step.prepared.input = StepInput();
  // The tokens this step samples are known on the device before the host: they are pending
  // until collected, and the next step may feed them from there.
  step.token_position.assign(out.sequences.size(), -1);
  for (size_t i = 0; i < out.sequences.size(); ++i) {
    const SequenceRows& rows = step.prepared.rows[i];
    if (rows.sample_row < 0) continue;
    Sequence* seq = scheduler_.find(out.sequences[i].seq_id);
    step.token_position[i] = seq->num_tokens();
    seq->token_ids.push_back(kPendingToken);
    seq->pending_sample_row = rows.sampled_index;
  }
  step.schedule = std::move(out);
  in_flight_.push_back(std::move(step));
  return true;
}

void Engine::complete_step() {
  LaunchedStep step = std::move(in_flight_.front());
  in_flight_.pop_front();
  StepResult result;
  Status status = step.launch_status.ok() ? executor_->collect(&result) : step.launch_status;
  const size_t vocab = static_cast<size_t>(executor_->vocab_size());
  if (status.ok() && (result.sampled.size() != static_cast<size_t>(step.num_sampling_rows) ||
                      result.logits.size() != static_cast<size_t>(step.prepared.num_result_logits_rows) * vocab)) {
    status = Status::error("the backend returned " + std::to_string(result.sampled.size()) + " sampled rows and " +
                           std::to_string(result.logits.size()) + " logits, expected " +
                           std::to_string(step.num_sampling_rows) + " and " +
                           std::to_string(step.prepared.num_result_logits_rows) + " x " + std::to_string(vocab));
  }
  std::vector<RequestState*> touched;
  auto touch = [&](RequestState* r) {
    if (std::find(touched.begin(), touched.end(), r) == touched.end()) touched.push_back(r);
  };
  if (!status.ok()) {
    KILN_LOG(Error) << "Step failed: " << status.message();
    for (const ScheduledSequence& s : step.schedule.sequences) {
      Sequence* seq = scheduler_.find(s.seq_id);
      if (seq == nullptr) continue;
      fail_request(*seq->request, status.message());
      touch(seq->request);
    }
  } else {
    apply_step_result(step, result, &touched);
  }
  update_stats();  // before the outputs, so a consumer that saw its last output sees its blocks freed
  for (RequestState* req : touched) emit(*req);
  retire_finished();
}

void Engine::apply_step_result(const LaunchedStep& step, StepResult& result, std::vector<RequestState*>* touched) {
  const SchedulerOutput& out = step.schedule;
  const size_t vocab = static_cast<size_t>(executor_->vocab_size());
  scheduler_.on_step_done(out);
  for (size_t i = 0; i < out.sequences.size(); ++i) {
    const ScheduledSequence& s = out.sequences[i];
    const SequenceRows& rows = step.prepared.rows[i];
    // Gone when it finished: aborted, or stopped by a token or string of the step before.
    Sequence* seq = scheduler_.find(s.seq_id);
    if (seq == nullptr) continue;
    RequestState& req = *seq->request;
    if (std::find(touched->begin(), touched->end(), &req) == touched->end()) touched->push_back(&req);
    const int prompt_len = seq->num_prompt_tokens;
    if (seq->choice_index == 0) req.num_cached_tokens = seq->num_cached_tokens;
    prompt_tokens_total_ += std::max(
        0, std::min(s.num_computed_tokens + s.num_new_tokens, prompt_len) - s.num_computed_tokens);
    for (int j = 0; j < rows.num_prompt_rows; ++j) {
      const int logits_row = step.prepared.result_logits_row[static_cast<size_t>(rows.prompt_row_begin + j)];
      KILN_CHECK_LE(0, logits_row);
      const std::span<const float> row(result.logits.data() + static_cast<size_t>(logits_row) * vocab, vocab);
      const int pos = rows.first_prompt_position + j;
      auto& slot = (*req.prompt_logprobs)[static_cast<size_t>(pos)];
      if (!slot) ++req.num_prompt_logprobs_filled;
      slot = make_token_logprob(log_softmax(row), req.prompt[static_cast<size_t>(pos)], *req.params.prompt_logprobs);
    }
    if (req.prompt_logprobs && req.num_prompt_logprobs_filled >= prompt_len - 1) seq->wants_prompt_logprobs = false;
    if (rows.sample_row < 0) continue;
    const std::span<const SampledRow> sampled(result.sampled.data() + rows.sampled_index,
                                              static_cast<size_t>(rows.num_sampled_rows));
    apply_sampled_rows(*seq, s, step.token_position[i], sampled);
  }
  if (backend_drafts_ != nullptr && result.drafts.size() == step.draft_seq_ids.size()) {
    for (size_t j = 0; j < step.draft_seq_ids.size(); ++j) backend_drafts_->set(step.draft_seq_ids[j], std::move(result.drafts[j]));
  }
  if (speculator_) propose_drafts(out);
}

void Engine::apply_sampled_rows(Sequence& seq, const ScheduledSequence& s, int position,
                                std::span<const SampledRow> rows) {
  if (rows[0].token_id == kNoAllowedToken) {  // a structured output with nowhere to go
    fail_request(*seq.request, "the output's grammar allows no next token (with min_tokens or logit_bias blocking what it allows)");
    return;
  }
  if (position == seq.num_tokens() - 1) seq.pending_sample_row = -1;  // no later step samples it yet
  // The emitted tokens are the rows of the root and of each accepted draft node: the nodes'
  // tokens, then the bonus token of the last row (engine/spec/draft_tree.h).
  std::vector<int> path;
  if (s.num_drafts() > 0) path = accept_drafts(s, position, rows);
  const int num_tokens = 1 + static_cast<int>(path.size());
  for (int j = 0; j < num_tokens; ++j) {
    const SampledRow& sampled = rows[static_cast<size_t>(j == 0 ? 0 : 1 + path[static_cast<size_t>(j - 1)])];
    std::optional<TokenLogprob> logprob;
    if (seq.sampling.logprobs >= 0) logprob = to_token_logprob(sampled);
    ++generation_tokens_total_;
    const FinishReason reason =
        process_token(seq, position + j, sampled.token_id, std::move(logprob), config_.scheduler.max_model_len);
    if (reason != FinishReason::kNone) {
      finish(seq, reason);  // the tokens after a stop are dropped
      return;
    }
  }
}

void Engine::record_first_scheduled(const SchedulerOutput& out) {
  if (out.admitted_seq_ids.empty()) return;
  const double now = monotonic_seconds();
  for (int64_t seq_id : out.admitted_seq_ids) {
    const Sequence* seq = scheduler_.find(seq_id);
    if (seq == nullptr) continue;
    RequestState& req = *seq->request;
    if (!req.queue_time_s) req.queue_time_s = now - req.queued_s;
  }
}

void Engine::emit(RequestState& req) {
  std::optional<RequestOutput> out = take_request_output(req);
  if (!out) return;
  if (out->finished) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ids_.erase(req.request_id);
  }
  if (req.on_output) req.on_output(std::move(*out));
}

void Engine::retire_finished() {
  for (const std::string& id : finished_request_ids_) requests_.erase(id);
  finished_request_ids_.clear();
}

void Engine::drain_in_flight() {
  // The device may still write into the backend's buffers: wait for every launched step and drop
  // its result.
  while (!in_flight_.empty()) {
    if (in_flight_.front().launch_status.ok()) {
      StepResult unused;
      (void)executor_->collect(&unused);
    }
    in_flight_.pop_front();
  }
}

void Engine::update_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.num_running = scheduler_.num_running();
  stats_.num_waiting = scheduler_.num_waiting();
  stats_.kv_cache_usage = kv_cache_.usage();
  stats_.num_blocks = kv_cache_.num_blocks();
  stats_.block_size = kv_cache_.block_size();
  stats_.max_model_len = config_.scheduler.max_model_len;
  stats_.prompt_tokens_total = prompt_tokens_total_;
  stats_.generation_tokens_total = generation_tokens_total_;
  stats_.num_preemptions_total = scheduler_.num_preemptions();
  stats_.prefix_cache_queries_tokens_total = kv_cache_.counters().queries_tokens;
  stats_.prefix_cache_hits_tokens_total = kv_cache_.counters().hits_tokens;
  if (speculator_) {
    const SpecDecodeCounters& spec = speculator_->counters();
    stats_.spec_decode_num_drafts = spec.num_drafts;
    stats_.spec_decode_num_draft_tokens = spec.num_draft_tokens;
    stats_.spec_decode_num_accepted_tokens = spec.num_accepted_tokens;
    stats_.spec_decode_num_accepted_tokens_per_pos = spec.num_accepted_tokens_per_pos;
  }
}

}  // namespace kiln
