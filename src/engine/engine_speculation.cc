// The engine's side of speculative decoding (engine/spec/): making the speculator, drafting after
// a step, telling a drafting backend (EAGLE-3) which sequences it drafts for, and accepting a
// verified draft tree, whose accepted nodes' K/V moves to consecutive slots before the next step.
#include <memory>
#include <utility>

#include "engine/engine.h"
#include "engine/spec/draft_tree.h"

namespace kiln {

void Engine::start_speculation() {
  std::unique_ptr<DraftProposer> proposer =
      config_.make_draft_proposer ? config_.make_draft_proposer() : make_draft_proposer(config_.speculative);
  if (proposer == nullptr && config_.speculative.method == "eagle3") {
    auto backend = std::make_unique<BackendDraftProposer>();
    backend_drafts_ = backend.get();
    proposer = std::move(backend);
  }
  speculator_ = std::make_unique<Speculator>(config_.speculative, std::move(proposer));
}

void Engine::propose_drafts(const SchedulerOutput& out) {
  if (!speculator_->active(scheduler_.num_running())) return;
  for (const ScheduledSequence& s : out.sequences) {
    Sequence* seq = scheduler_.find(s.seq_id);
    // Only a decode whose every token is on the host drafts (a sequence still in its prompt, or
    // one a later step already feeds, does not).
    if (seq == nullptr || seq->status != SequenceStatus::kRunning || seq->num_computed_tokens != seq->num_tokens() - 1 ||
        seq->token_ids.back() == kPendingToken) {
      continue;
    }
    speculator_->propose(*seq);
  }
}

void Engine::add_draft_sequences(const SchedulerOutput& out, LaunchedStep* step) {
  StepInput& input = step->prepared.input;
  input.released_seq_ids = std::move(released_draft_seq_ids_);
  released_draft_seq_ids_.clear();
  const bool active = speculator_->active(scheduler_.num_running());
  for (size_t i = 0; i < out.sequences.size(); ++i) {
    const ScheduledSequence& s = out.sequences[i];
    const Sequence* seq = scheduler_.find(s.seq_id);
    // The backend keeps draft state for every sequence that may draft, drafting or not this step.
    if (seq == nullptr || !seq->speculative || seq->grammar) continue;
    const SequenceRows& rows = step->prepared.rows[i];
    BackendDraftSequence d;
    d.seq_id = s.seq_id;
    d.batch_index = static_cast<int>(i);
    d.sampled_index = rows.sample_row >= 0 ? rows.sampled_index : -1;
    d.num_verified_drafts = s.num_drafts();
    d.num_drafts = active && rows.sample_row >= 0 ? config_.speculative.num_speculative_tokens : 0;
    d.max_branches = config_.speculative.draft_tree_topk;
    input.draft_sequences.push_back(d);
    step->draft_seq_ids.push_back(s.seq_id);
  }
}

std::vector<int> Engine::accept_drafts(const ScheduledSequence& s, int position, std::span<const SampledRow> rows) {
  std::vector<int> path = accept_draft_tree(s.drafts, rows);
  const int num_accepted = static_cast<int>(path.size());
  speculator_->record(s.num_drafts(), num_accepted);
  scheduler_.reject_drafts(s.seq_id, s.num_drafts() - num_accepted);
  const std::span<const int> table = scheduler_.block_table(s.seq_id);
  const int block_size = scheduler_.kv_cache().block_size();
  const auto slot = [&](int p) {
    return static_cast<int64_t>(table[static_cast<size_t>(p / block_size)]) * block_size + p % block_size;
  };
  for (const auto& [from, to] : accepted_kv_moves(position - 1, path)) {
    pending_kv_move_from_.push_back(slot(from));
    pending_kv_move_to_.push_back(slot(to));
  }
  return path;
}

}  // namespace kiln
