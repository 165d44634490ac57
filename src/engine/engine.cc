#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <utility>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/device_sampling.h"
#include "engine/model_runner.h"
#include "engine/sampler.h"
#include "engine/stop_string_checker.h"

namespace kiln {

struct Engine::Choice {
  int index = 0;
  int64_t seq_id = 0;
  ResolvedSampling sampling;
  std::unique_ptr<IncrementalDetokenizer> detokenizer;
  StopStringChecker stopper;
  bool finished = false;
  int num_output_tokens = 0;
  bool changed = false;
  CompletionOutput pending;  // what this step adds, emitted and reset by emit()
};

struct Engine::RequestState {
  std::string request_id;
  OutputCallback on_output;
  SamplingParams params;
  std::vector<int32_t> prompt;
  std::vector<Choice> choices;
  std::optional<std::vector<std::optional<TokenLogprob>>> prompt_logprobs;
  int num_prompt_logprobs_filled = 0;
  bool prompt_logprobs_sent = false;
  std::string error;
  int num_cached_tokens = 0;
  bool finished = false;
  double queued_s = 0;                 // monotonic_seconds() when the engine took it in
  std::optional<double> queue_time_s;  // set at its first scheduling
  bool queue_time_sent = false;
};

// A step handed to the backend and not yet collected, with what collect_step() needs to read
// its results.
struct Engine::LaunchedStep {
  SchedulerOutput out;
  PreparedStep prepared;
  std::vector<int> host_row;        // per logits row: its row in logits_, -1 when sampled on the device
  std::vector<int> device_sampled;  // per scheduled sequence: its row in sampled_, or -1
  size_t num_host_rows = 0;
  size_t num_sampled_rows = 0;
  Status status;                    // of the launch, or of the whole step when it ran synchronously
  bool awaiting_collect = false;    // launched asynchronously: collect_sampled() is still owed
};

Engine::Engine(const EngineConfig& config, std::unique_ptr<ModelExecutor> executor,
               DetokenizerFactory detokenizer)
    : config_(config),
      executor_(std::move(executor)),
      detokenizer_(std::move(detokenizer)),
      kv_cache_(static_cast<int>(config.num_blocks), config.block_size,
                config.enable_prefix_caching),
      scheduler_(config.scheduler, &kv_cache_) {
  KILN_CHECK(executor_ != nullptr);
  if (config_.seed) seed_source_.seed(*config_.seed);
  update_stats();
  last_log_s_ = monotonic_seconds();
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
      if (!scheduler_.has_work() && !launched_) {
        if (busy_since_log_ && config_.stats_log_interval_s > 0) {
          // Idle after work: wake once more to log the interval that saw it.
          const double wait_s = std::max(0.0, last_log_s_ + config_.stats_log_interval_s -
                                                  monotonic_seconds());
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
    if (stopping) {
      if (launched_ && launched_->awaiting_collect) {
        // The device may still write into the backend's buffers: wait for it, drop the result.
        std::vector<float> unused_logits;
        std::vector<SampledRow> unused_rows;
        (void)executor_->collect_sampled(&unused_logits, &unused_rows);
      }
      launched_.reset();
      std::vector<std::string> ids;
      for (const auto& [id, state] : requests_) ids.push_back(id);
      for (const std::string& id : ids) handle_abort(id);
      update_stats();
      return;
    }
    if (scheduler_.has_work() || launched_) step();
    update_stats();
    maybe_log_stats(false);
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
  if (req.params.prompt_logprobs) {
    req.prompt_logprobs.emplace(static_cast<size_t>(prompt_len));
  }
  const int64_t arrival = next_arrival_++;
  int64_t leader = -1;
  const uint64_t base_seed = req.params.seed ? *req.params.seed : seed_source_();
  for (int i = 0; i < req.params.n; ++i) {
    Choice choice;
    choice.index = i;
    choice.seq_id = next_seq_id_++;
    choice.sampling = resolve_sampling(req.params, config_.generation_defaults,
                                       base_seed + static_cast<uint64_t>(i));
    if (detokenizer_) {
      choice.detokenizer = detokenizer_(req.prompt, req.params.skip_special_tokens);
    }
    choice.stopper = StopStringChecker(req.params.stop, req.params.include_stop_str_in_output);
    choice.pending.index = i;

    auto seq = std::make_unique<Sequence>();
    seq->seq_id = choice.seq_id;
    seq->request_id = req.request_id;
    seq->choice_index = i;
    seq->token_ids = req.prompt;
    seq->num_prompt_tokens = prompt_len;
    seq->priority = request.priority;
    seq->arrival_order = arrival;
    seq->wants_prompt_logprobs = i == 0 && req.prompt_logprobs.has_value() && prompt_len > 1;
    if (i == 0) leader = choice.seq_id;
    else if (config_.enable_prefix_caching) seq->wait_for_seq_id = leader;
    seq_owner_[choice.seq_id] = {&req, i};
    scheduler_.add(std::move(seq));
    req.choices.push_back(std::move(choice));
  }
  requests_.emplace(req.request_id, std::move(state));
}

void Engine::handle_abort(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  RequestState& req = *it->second;
  for (Choice& choice : req.choices) {
    if (!choice.finished) finish_choice(req, choice, FinishReason::kAbort);
  }
  update_stats();
  emit(req);
  retire_finished();
}

void Engine::finish_choice(RequestState& req, Choice& choice, FinishReason reason) {
  choice.finished = true;
  choice.changed = true;
  choice.pending.finish_reason = reason;
  scheduler_.finish(choice.seq_id);  // frees its blocks now
  seq_owner_.erase(choice.seq_id);
  req.finished = std::all_of(req.choices.begin(), req.choices.end(),
                             [](const Choice& c) { return c.finished; });
}

void Engine::fail_request(RequestState& req, const std::string& message) {
  req.error = message;
  for (Choice& choice : req.choices) {
    if (!choice.finished) finish_choice(req, choice, FinishReason::kError);
  }
}

Engine::TokenText Engine::apply_token(RequestState& req, Choice& choice, int32_t token_id,
                                      std::optional<TokenLogprob> logprob) {
  const ResolvedSampling& s = choice.sampling;
  const int n = ++choice.num_output_tokens;
  choice.changed = true;
  choice.pending.new_token_ids.push_back(token_id);
  if (logprob) choice.pending.logprobs.push_back(std::move(*logprob));
  choice.pending.num_output_tokens = n;

  TokenText text{&req, choice.index, token_id, n >= s.min_tokens, false};
  if (text.past_min_tokens) {
    if (!s.ignore_eos &&
        std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), token_id) != s.eos_token_ids.end()) {
      text.is_stop_token = true;
    } else if (std::find(s.stop_token_ids.begin(), s.stop_token_ids.end(), token_id) !=
               s.stop_token_ids.end()) {
      text.is_stop_token = true;
      choice.pending.stop_reason = token_id;
    }
  }
  if (text.is_stop_token) {
    finish_choice(req, choice, FinishReason::kStop);
  } else if (n >= s.max_tokens ||
             static_cast<int>(req.prompt.size()) + n >= config_.scheduler.max_model_len) {
    finish_choice(req, choice, FinishReason::kLength);
  }
  return text;
}

void Engine::make_text(const TokenText& text) {
  RequestState& req = *text.req;
  Choice& choice = req.choices[static_cast<size_t>(text.choice_index)];
  // A stop token's own text is left out unless include_stop_str_in_output (as vLLM).
  if (choice.detokenizer && (!text.is_stop_token || req.params.include_stop_str_in_output)) {
    choice.pending.text_delta +=
        choice.stopper.append(choice.detokenizer->add(text.token_id), text.past_min_tokens);
  }
  if (choice.stopper.matched()) {
    choice.pending.stop_reason = *choice.stopper.matched();
    if (choice.finished) {
      choice.pending.finish_reason = FinishReason::kStop;  // the string wins over token or length
    } else {
      // Found after the next step was launched: that step computes one more token for this
      // choice, which collect_step() drops since the sequence is gone by then.
      finish_choice(req, choice, FinishReason::kStop);
    }
  } else if (choice.finished) {
    if (choice.detokenizer) {
      choice.pending.text_delta += choice.stopper.append(choice.detokenizer->flush(), false);
    }
    choice.pending.text_delta += choice.stopper.flush();
  }
}

void Engine::step() {
  std::vector<TokenText> texts;
  std::vector<RequestState*> touched;
  if (launched_) {
    collect_step(&texts, &touched);
    launched_.reset();
  }
  // A backend that runs steps asynchronously computes the next step while the host makes this
  // one's text (detokenizing, stop strings) and hands out its outputs. Any other backend runs
  // the next step inside launch_step(), so it goes last: outputs are never held back a step.
  const bool overlap = executor_->launches_async();
  if (overlap) launch_step();
  for (const TokenText& text : texts) make_text(text);
  update_stats();  // before the outputs, so a consumer that saw its last output sees its blocks freed
  for (RequestState* req : touched) emit(*req);
  retire_finished();
  if (!overlap) launch_step();
}

void Engine::launch_step() {
  if (!scheduler_.has_work()) return;
  SchedulerOutput out = scheduler_.schedule();
  if (out.empty()) return;  // only after a step that preempted everything it had; retried next
  busy_since_log_ = true;
  record_first_scheduled(out);
  auto step = std::make_unique<LaunchedStep>();
  step->prepared = prepare_step(out, scheduler_);
  const size_t num_logits = step->prepared.batch.logits_indices.size();
  // Where each logits row's values are in logits_: every row with host sampling; with device
  // sampling only the rows that do not sample (prompt logprobs), compacted.
  step->host_row.resize(num_logits);
  step->device_sampled.assign(out.sequences.size(), -1);
  DeviceSamplingBatch sampling;
  if (executor_->samples_on_device()) {
    std::vector<bool> is_sampled(num_logits, false);
    for (size_t i = 0; i < out.sequences.size(); ++i) {
      const SequenceRows& rows = step->prepared.rows[i];
      auto owner = seq_owner_.find(out.sequences[i].seq_id);
      const Sequence* seq = scheduler_.find(out.sequences[i].seq_id);
      if (rows.sample_row < 0 || owner == seq_owner_.end() || seq == nullptr) continue;
      const Choice& choice = owner->second.first->choices[owner->second.second];
      const std::span<const int32_t> tokens(seq->token_ids);
      step->device_sampled[i] = static_cast<int>(sampling.rows.size());
      sampling.rows.push_back(make_sampling_row(choice.sampling, rows.sample_row,
                                                tokens.first(seq->num_prompt_tokens),
                                                tokens.subspan(seq->num_prompt_tokens), &sampling.adjustments));
      is_sampled[static_cast<size_t>(rows.sample_row)] = true;
    }
    int next = 0;
    for (size_t r = 0; r < num_logits; ++r) step->host_row[r] = is_sampled[r] ? -1 : next++;
  } else {
    for (size_t r = 0; r < num_logits; ++r) step->host_row[r] = static_cast<int>(r);
  }
  step->num_host_rows = static_cast<size_t>(
      std::count_if(step->host_row.begin(), step->host_row.end(), [](int r) { return r >= 0; }));
  step->num_sampled_rows = sampling.rows.size();
  logits_.clear();
  sampled_.clear();
  if (!executor_->samples_on_device()) {
    step->status = executor_->execute(step->prepared.batch, &logits_);
  } else if (executor_->launches_async()) {
    step->status = executor_->launch_and_sample(step->prepared.batch, sampling);
    step->awaiting_collect = step->status.ok();
  } else {
    step->status = executor_->execute_and_sample(step->prepared.batch, sampling, &logits_, &sampled_);
  }
  step->out = std::move(out);
  launched_ = std::move(step);
}

void Engine::collect_step(std::vector<TokenText>* texts, std::vector<RequestState*>* touched) {
  LaunchedStep& step = *launched_;
  const SchedulerOutput& out = step.out;
  Status status = step.status;
  if (step.awaiting_collect) status = executor_->collect_sampled(&logits_, &sampled_);
  const int vocab = executor_->vocab_size();
  auto touch = [&](RequestState* r) {
    if (std::find(touched->begin(), touched->end(), r) == touched->end()) touched->push_back(r);
  };
  const bool sizes_ok =
      logits_.size() == step.num_host_rows * vocab && sampled_.size() == step.num_sampled_rows;
  if (status.ok() && !sizes_ok) {
    KILN_LOG(Error) << "model executor returned " << logits_.size() << " logits and " << sampled_.size()
                    << " sampled rows, expected " << step.num_host_rows << " x " << vocab << " and "
                    << step.num_sampled_rows;
  }
  if (!status.ok() || !sizes_ok) {
    const std::string message =
        status.ok() ? "the model returned logits of the wrong size" : status.message();
    KILN_LOG(Error) << "Step failed: " << message;
    for (const ScheduledSequence& s : out.sequences) {
      auto owner = seq_owner_.find(s.seq_id);
      if (owner == seq_owner_.end()) continue;
      RequestState* req = owner->second.first;
      fail_request(*req, message);
      touch(req);
    }
    return;
  }
  scheduler_.on_step_done(out);
  for (size_t i = 0; i < out.sequences.size(); ++i) {
    const ScheduledSequence& s = out.sequences[i];
    const SequenceRows& rows = step.prepared.rows[i];
    // Gone when it finished (abort, or a stop string found after this step was launched).
    auto owner = seq_owner_.find(s.seq_id);
    if (owner == seq_owner_.end()) continue;
    RequestState& req = *owner->second.first;
    Choice& choice = req.choices[owner->second.second];
    Sequence* seq = scheduler_.find(s.seq_id);
    KILN_CHECK(seq != nullptr);
    const int prompt_len = seq->num_prompt_tokens;
    if (choice.index == 0) req.num_cached_tokens = seq->num_cached_tokens;
    prompt_tokens_total_ += std::max(
        0, std::min(s.num_computed_tokens + s.num_new_tokens, prompt_len) - s.num_computed_tokens);
    for (int j = 0; j < rows.num_prompt_rows; ++j) {
      const int logits_row = step.host_row[static_cast<size_t>(rows.prompt_row_begin + j)];
      KILN_CHECK_LE(0, logits_row);
      const std::span<const float> row(logits_.data() + static_cast<size_t>(logits_row) * vocab, vocab);
      const int pos = rows.first_prompt_position + j;
      auto& slot = (*req.prompt_logprobs)[pos];
      if (!slot) ++req.num_prompt_logprobs_filled;
      slot = make_token_logprob(log_softmax(row), req.prompt[pos], *req.params.prompt_logprobs);
    }
    if (req.prompt_logprobs && req.num_prompt_logprobs_filled >= prompt_len - 1) {
      seq->wants_prompt_logprobs = false;
    }
    if (rows.sample_row < 0) continue;
    SampledToken sampled;
    if (step.device_sampled[i] >= 0) {
      const SampledRow& device_row = sampled_[static_cast<size_t>(step.device_sampled[i])];
      sampled.token_id = device_row.token_id;
      if (choice.sampling.logprobs >= 0) sampled.logprob = to_token_logprob(device_row);
    } else {
      const int logits_row = step.host_row[static_cast<size_t>(rows.sample_row)];
      KILN_CHECK_LE(0, logits_row);
      const std::span<const float> row(logits_.data() + static_cast<size_t>(logits_row) * vocab, vocab);
      const std::span<const int32_t> tokens(seq->token_ids);
      sampled = sample_token(choice.sampling, row, tokens.first(prompt_len), tokens.subspan(prompt_len));
    }
    scheduler_.append_token(s.seq_id, sampled.token_id);
    ++generation_tokens_total_;
    texts->push_back(apply_token(req, choice, sampled.token_id, std::move(sampled.logprob)));
    touch(&req);
  }
}

void Engine::record_first_scheduled(const SchedulerOutput& out) {
  if (out.admitted_seq_ids.empty()) return;
  const double now = monotonic_seconds();
  for (int64_t seq_id : out.admitted_seq_ids) {
    auto owner = seq_owner_.find(seq_id);
    if (owner == seq_owner_.end()) continue;
    RequestState& req = *owner->second.first;
    if (!req.queue_time_s) req.queue_time_s = now - req.queued_s;
  }
}

void Engine::emit(RequestState& req) {
  RequestOutput out;
  out.request_id = req.request_id;
  out.num_prompt_tokens = static_cast<int>(req.prompt.size());
  for (Choice& choice : req.choices) {
    if (!choice.changed) continue;
    out.outputs.push_back(std::move(choice.pending));
    choice.pending = CompletionOutput();
    choice.pending.index = choice.index;
    choice.pending.num_output_tokens = choice.num_output_tokens;
    choice.changed = false;
  }
  if (out.outputs.empty() && !req.finished) return;
  out.num_cached_tokens = req.num_cached_tokens;
  if (req.prompt_logprobs && !req.prompt_logprobs_sent && !out.outputs.empty()) {
    out.prompt_logprobs = *req.prompt_logprobs;
    req.prompt_logprobs_sent = true;
  }
  if (req.queue_time_s && !req.queue_time_sent) {
    out.queue_time_seconds = req.queue_time_s;
    req.queue_time_sent = true;
  }
  out.finished = req.finished;
  out.error = req.error;
  if (req.finished) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ids_.erase(req.request_id);
  }
  if (req.on_output) req.on_output(std::move(out));
}

void Engine::retire_finished() {
  std::erase_if(requests_, [](const auto& entry) { return entry.second->finished; });
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
}

void Engine::maybe_log_stats(bool force) {
  if (config_.stats_log_interval_s <= 0 || !busy_since_log_) return;
  const double now = monotonic_seconds();
  const double elapsed = now - last_log_s_;
  if (!force && elapsed < config_.stats_log_interval_s) return;
  const auto& c = kv_cache_.counters();
  const double hit_rate = c.queries_tokens > 0 ? 100.0 * c.hits_tokens / c.queries_tokens : 0.0;
  char line[320];
  std::snprintf(line, sizeof(line),
                "Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, "
                "Running: %d reqs, Waiting: %d reqs, KV cache usage: %.1f%%, Prefix cache hit "
                "rate: %.1f%%",
                (prompt_tokens_total_ - logged_prompt_tokens_) / elapsed,
                (generation_tokens_total_ - logged_generation_tokens_) / elapsed,
                scheduler_.num_running(), scheduler_.num_waiting(), 100.0 * kv_cache_.usage(),
                hit_rate);
  KILN_LOG(Info) << line;
  last_log_s_ = now;
  logged_prompt_tokens_ = prompt_tokens_total_;
  logged_generation_tokens_ = generation_tokens_total_;
  busy_since_log_ = scheduler_.has_work();
}

}  // namespace kiln
