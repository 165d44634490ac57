#include "engine/scheduler.h"

#include <algorithm>
#include <tuple>

#include "base/check.h"
#include "base/log.h"

namespace kiln {

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager* kv_cache)
    : config_(config), kv_cache_(kv_cache) {
  KILN_CHECK(config.max_num_batched_tokens > 0 && config.max_num_seqs > 0 &&
             config.max_model_len > 0);
}

bool Scheduler::before(const Sequence& a, const Sequence& b) const {
  return std::tie(a.priority, a.arrival_order, a.choice_index, a.seq_id) <
         std::tie(b.priority, b.arrival_order, b.choice_index, b.seq_id);
}

void Scheduler::insert_waiting(int64_t seq_id) {
  purge_finished();
  auto pos = std::upper_bound(waiting_.begin(), waiting_.end(), seq_id,
                              [&](int64_t id, int64_t other) {
                                return before(*seqs_.at(id), *seqs_.at(other));
                              });
  waiting_.insert(pos, seq_id);
}

void Scheduler::purge_finished() {
  auto finished = [&](int64_t id) { return seqs_.count(id) == 0; };
  if (num_finished_running_ > 0) std::erase_if(running_, finished);
  if (num_finished_waiting_ > 0) std::erase_if(waiting_, finished);
  num_finished_running_ = 0;
  num_finished_waiting_ = 0;
}

void Scheduler::add(Sequence* seq) {
  const int64_t id = seq->seq_id;
  KILN_CHECK(seqs_.count(id) == 0) << "duplicate seq_id " << id;
  seq->status = SequenceStatus::kWaiting;
  seqs_.emplace(id, seq);
  insert_waiting(id);
}

void Scheduler::preempt(int64_t seq_id) {
  Sequence& seq = *seqs_.at(seq_id);
  kv_cache_->free(seq_id);
  seq.drafts.clear();
  seq.num_computed_tokens = 0;
  seq.num_collected_tokens = 0;
  seq.status = SequenceStatus::kWaiting;
  ++num_preemptions_;
  KILN_LOG(Warning) << "Sequence group " << seq.request_id << " (choice " << seq.choice_index
                    << ") is preempted by recompute because there is not enough KV cache space."
                    << " total_num_preemptions=" << num_preemptions_;
  insert_waiting(seq_id);
}

void Scheduler::schedule_running(SchedulerOutput* out, int* budget) {
  std::sort(running_.begin(), running_.end(),
            [&](int64_t a, int64_t b) { return before(*seqs_.at(a), *seqs_.at(b)); });
  size_t i = 0;
  while (i < running_.size()) {
    const int64_t id = running_[i];
    Sequence& seq = *seqs_.at(id);
    const int fed_limit = std::min(seq.max_num_tokens, config_.max_model_len) - 1;
    int num_new = std::min(std::min(seq.num_tokens(), fed_limit) - seq.num_computed_tokens, *budget);
    if (num_new <= 0) {
      ++i;
      continue;
    }
    // Drafts ride on a decode whose last token is on the host, within the budget and the
    // sequence's last position; they never cost another sequence its blocks.
    int num_drafts = 0;
    if (!seq.drafts.empty() && num_new == 1 && seq.num_computed_tokens == seq.num_tokens() - 1 &&
        seq.token_ids.back() != kPendingToken) {
      // A tree's first nodes are a tree (parents precede children): trimming keeps a prefix.
      num_drafts = std::min({seq.drafts.num_nodes(), fed_limit - seq.num_tokens(), *budget - 1});
      if (num_drafts > 0 && !kv_cache_->allocate(id, seq.num_tokens() + num_drafts)) num_drafts = 0;
      num_new += std::max(0, num_drafts);
    }
    DraftTree drafts;
    if (num_drafts > 0) {
      drafts = std::move(seq.drafts);
      drafts.truncate(num_drafts);
    }
    seq.drafts.clear();
    bool scheduled = false;
    bool self_preempted = false;
    while (true) {
      if (kv_cache_->allocate(id, seq.num_computed_tokens + num_new)) {
        scheduled = true;
        break;
      }
      // Sorted ascending, so the back is the lowest-priority / newest: never one scheduled
      // earlier in this loop.
      const int64_t victim = running_.back();
      running_.pop_back();
      preempt(victim);
      out->preempted_seq_ids.push_back(victim);
      if (victim == id) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;  // everything after it was preempted before it
    if (scheduled) {
      out->sequences.push_back({id, seq.num_computed_tokens, num_new,
                                seq.num_computed_tokens + num_new >= seq.num_tokens(), std::move(drafts)});
      seq.num_computed_tokens += num_new;
      out->total_num_tokens += num_new;
      *budget -= num_new;
    }
    ++i;
  }
}

void Scheduler::schedule_waiting(SchedulerOutput* out, int* budget) {
  bool admitted = false;
  for (int64_t id : waiting_) {
    if (*budget <= 0 ||
        static_cast<int>(running_.size()) >= config_.max_num_seqs) {
      break;
    }
    Sequence& seq = *seqs_.at(id);
    if (seq.wait_for_seq_id >= 0) {
      const Sequence* leader = find(seq.wait_for_seq_id);
      if (leader != nullptr && leader->num_collected_tokens < leader->num_prompt_tokens) continue;
      seq.wait_for_seq_id = -1;
    }
    PrefixHit hit;
    if (!seq.wants_prompt_logprobs) hit = kv_cache_->find_cached_prefix(seq.token_ids);
    const int num_new = std::min(seq.num_tokens() - hit.num_tokens, *budget);
    if (!kv_cache_->allocate(id, hit.num_tokens + num_new, &hit)) break;
    if (!seq.admitted_before) {
      // Prefix-cache statistics count first admissions only, not recomputation after preemption.
      kv_cache_->record_query(seq.num_tokens(), hit.num_tokens);
      seq.num_cached_tokens = hit.num_tokens;
      seq.admitted_before = true;
    }
    seq.num_computed_tokens = hit.num_tokens + num_new;
    seq.num_collected_tokens = hit.num_tokens;
    seq.status = SequenceStatus::kRunning;
    running_.push_back(id);
    admitted = true;
    out->admitted_seq_ids.push_back(id);
    out->sequences.push_back({id, hit.num_tokens, num_new, hit.num_tokens + num_new == seq.num_tokens()});
    out->total_num_tokens += num_new;
    *budget -= num_new;
  }
  if (admitted) {
    std::erase_if(waiting_, [&](int64_t id) { return seqs_.at(id)->status == SequenceStatus::kRunning; });
  }
}

SchedulerOutput Scheduler::schedule() {
  purge_finished();
  SchedulerOutput out;
  int budget = config_.max_num_batched_tokens;
  schedule_running(&out, &budget);
  if (out.preempted_seq_ids.empty()) schedule_waiting(&out, &budget);
  return out;
}

void Scheduler::on_step_done(const SchedulerOutput& output) {
  for (const ScheduledSequence& s : output.sequences) {
    Sequence* seq = find(s.seq_id);
    // Finished while the step ran, or preempted by a later schedule (its blocks are gone).
    if (seq == nullptr || seq->status != SequenceStatus::kRunning) continue;
    // Drafts' K/V counts once they are accepted, at the sequence's next step.
    const int end = s.num_computed_tokens + s.num_new_tokens - s.num_drafts();
    if (end <= seq->num_collected_tokens || end > seq->num_computed_tokens) continue;
    seq->num_collected_tokens = end;
    kv_cache_->cache_computed(s.seq_id, seq->token_ids, end);
  }
}

void Scheduler::reject_drafts(int64_t seq_id, int num_rejected) {
  Sequence* seq = find(seq_id);
  if (seq == nullptr || num_rejected <= 0) return;
  KILN_CHECK_LE(num_rejected, seq->num_computed_tokens);
  seq->num_computed_tokens -= num_rejected;
}

void Scheduler::finish(int64_t seq_id) {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return;
  kv_cache_->free(seq_id);
  // Its id stays in running_ or waiting_ until purge_finished(): erasing it here would make
  // finishing every sequence of a long queue quadratic.
  if (it->second->status == SequenceStatus::kRunning) ++num_finished_running_;
  else ++num_finished_waiting_;
  it->second->status = SequenceStatus::kFinished;
  seqs_.erase(it);
}

Sequence* Scheduler::find(int64_t seq_id) {
  auto it = seqs_.find(seq_id);
  return it == seqs_.end() ? nullptr : it->second;
}

const Sequence* Scheduler::find(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  return it == seqs_.end() ? nullptr : it->second;
}

std::span<const int> Scheduler::block_table(int64_t seq_id) const {
  return kv_cache_->block_table(seq_id);
}

}  // namespace kiln
