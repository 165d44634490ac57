// Continuous batching in vLLM v1's style: every step has a token budget
// (max_num_batched_tokens) shared by the running sequences (decodes, and prefills still in
// progress) and then by admissions from the waiting queue, whose prompts are chunked to fit.
//
// - Order: by (priority, arrival) — FCFS when priorities are equal. Admission stops at the
//   first waiting sequence that does not fit, so a long prompt is never overtaken forever by
//   shorter later ones (no starvation among equal priorities).
// - Admission only when blocks suffice. When a running sequence cannot get a block, the
//   running sequence with the largest (priority, arrival) — the newest among equals — is
//   preempted by recompute: its blocks are freed and it goes back to the waiting queue, to be
//   computed again (its prompt and output so far) when it is readmitted. No admissions happen
//   in a step that preempted.
// - A step's progress counts when it is scheduled, as in vLLM v1: the next schedule may run while
//   the step is still in flight, feeding a decode the token that step samples (kPendingToken on
//   the host until collected). No position at or past a sequence's max_num_tokens - 1 is
//   computed: its last token is never fed back.
// - Speculative decoding: a decode whose sequence holds drafts (engine/spec/) also feeds them,
//   within the budget and its last position, when blocks for them are free without preempting.
// - finish() (stop, length, abort) frees a sequence's blocks at once. Its id leaves the running
//   and waiting lists lazily (at the next schedule or insertion), so finishing k of n queued
//   sequences costs O(k + n), not O(k x n): one request can queue hundreds of thousands.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/scheduler_output.h"
#include "engine/sequence.h"
#include "kvcache/kv_cache_manager.h"

namespace kiln {

struct SchedulerConfig {
  int max_num_batched_tokens = 2048;
  int max_num_seqs = 256;
  int max_model_len = 4096;
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KvCacheManager* kv_cache);

  const SchedulerConfig& config() const { return config_; }
  const KvCacheManager& kv_cache() const { return *kv_cache_; }

  // Queues a new sequence (status waiting). Its seq_id must be unused; the caller owns it and
  // keeps it alive until finish().
  void add(Sequence* seq);
  // Decides the next step and counts its tokens as computed.
  SchedulerOutput schedule();
  // After the step's results are collected: registers the blocks it completed in the prefix
  // cache (their K/V is written and every token in them is known now).
  void on_step_done(const SchedulerOutput& output);
  // Speculative decoding, after on_step_done: the last `num_rejected` drafts the step fed were
  // rejected, so their positions count as not computed (the next step writes them again; their
  // blocks stay allocated).
  void reject_drafts(int64_t seq_id, int num_rejected);
  // Frees the sequence's blocks and forgets it. Unknown ids are ignored.
  void finish(int64_t seq_id);

  Sequence* find(int64_t seq_id);
  const Sequence* find(int64_t seq_id) const;
  std::span<const int> block_table(int64_t seq_id) const;

  int num_running() const { return static_cast<int>(running_.size()) - num_finished_running_; }
  int num_waiting() const { return static_cast<int>(waiting_.size()) - num_finished_waiting_; }
  bool has_work() const { return num_running() > 0 || num_waiting() > 0; }
  int64_t num_preemptions() const { return num_preemptions_; }

 private:
  bool before(const Sequence& a, const Sequence& b) const;
  void insert_waiting(int64_t seq_id);
  // Drops finished ids from running_ and waiting_ (one pass over each).
  void purge_finished();
  void preempt(int64_t seq_id);
  void schedule_running(SchedulerOutput* out, int* budget);
  void schedule_waiting(SchedulerOutput* out, int* budget);

  SchedulerConfig config_;
  KvCacheManager* kv_cache_;
  std::unordered_map<int64_t, Sequence*> seqs_;
  std::vector<int64_t> running_;  // sorted by (priority, arrival) at each schedule()
  std::vector<int64_t> waiting_;  // kept sorted by (priority, arrival)
  // Finished ids still in running_ / waiting_, until purge_finished().
  int num_finished_running_ = 0;
  int num_finished_waiting_ = 0;
  int64_t num_preemptions_ = 0;
};

}  // namespace kiln
