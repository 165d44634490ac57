#include "engine/spec/speculator.h"

#include <algorithm>

#include "base/check.h"
#include "engine/spec/ngram_proposer.h"
#include "engine/spec/suffix_proposer.h"

namespace kiln {

std::unique_ptr<DraftProposer> make_draft_proposer(const SpeculativeConfig& config) {
  if (config.method == "ngram") {
    return std::make_unique<NgramProposer>(config.prompt_lookup_min.value_or(5), config.prompt_lookup_max.value_or(5));
  }
  if (config.method == "suffix") {
    SuffixDecodingParams params;
    params.max_tree_depth = config.suffix_decoding_max_tree_depth;
    params.max_cached_requests = config.suffix_decoding_max_cached_requests;
    params.max_spec_factor = config.suffix_decoding_max_spec_factor;
    params.min_token_prob = config.suffix_decoding_min_token_prob;
    return std::make_unique<SuffixProposer>(params);
  }
  return nullptr;
}

Speculator::Speculator(const SpeculativeConfig& config, std::unique_ptr<DraftProposer> proposer)
    : config_(config), proposer_(std::move(proposer)) {
  counters_.num_accepted_tokens_per_pos.assign(static_cast<size_t>(std::max(0, config_.num_speculative_tokens)), 0);
}

void Speculator::propose(Sequence& seq) {
  seq.drafts.clear();
  // A structured output's rows need the grammar's mask after each draft; it does not draft.
  if (proposer_ == nullptr || !seq.speculative || seq.grammar) return;
  // Drafts sit at positions num_tokens .. num_tokens + d - 1, and the scheduler computes no
  // position at or past max_num_tokens - 1.
  const int room = seq.max_num_tokens - 1 - seq.num_tokens();
  const int max_drafts = std::min(config_.num_speculative_tokens, room);
  if (max_drafts <= 0) return;
  DraftContext context{seq.seq_id, seq.token_ids, seq.num_prompt_tokens, max_drafts, config_.draft_tree_topk};
  proposer_->propose(context, &seq.drafts);
  KILN_CHECK(*draft_tree_error(seq.drafts) == '\0') << "proposer for method " << config_.method << ": " << draft_tree_error(seq.drafts);
  seq.drafts.truncate(max_drafts);
  seq.num_draftless_proposals = seq.drafts.empty() ? seq.num_draftless_proposals + 1 : 0;
}

bool Speculator::wants_tokens(const Sequence& seq) const {
  if (proposer_ == nullptr || !seq.speculative || seq.grammar) return false;
  return seq.num_draftless_proposals < kDraftlessBeforeBackoff || seq.num_tokens() % kProbeInterval == 0;
}

void Speculator::record(int num_drafts, int num_accepted) {
  if (num_drafts <= 0) return;
  ++counters_.num_drafts;
  counters_.num_draft_tokens += num_drafts;
  counters_.num_accepted_tokens += num_accepted;
  for (int j = 0; j < num_accepted && j < static_cast<int>(counters_.num_accepted_tokens_per_pos.size()); ++j) {
    ++counters_.num_accepted_tokens_per_pos[static_cast<size_t>(j)];
  }
}

void Speculator::on_finished(const Sequence& seq, bool completed) {
  if (proposer_ == nullptr || !seq.speculative) return;
  DraftContext context{seq.seq_id, seq.token_ids, seq.num_prompt_tokens, 0};
  proposer_->on_finished(context, completed);
}

}  // namespace kiln
