// The engine's side of speculative decoding: whether a step speculates, drafting for a sequence
// after its tokens are applied, counting what the verify rows accepted. The verification itself is
// the sampling operator's (kernels/sampling.h: a row per drafted position, each with the draft it
// verifies); the scheduler feeds the drafts after the sequence's last token and takes back the
// positions of rejected ones.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/sequence.h"
#include "engine/spec/draft_proposer.h"
#include "engine/spec/spec_decode_counters.h"
#include "engine/spec/speculative_config.h"
#include "kernels/sampling.h"

namespace kiln {

// The proposer a resolved config's host-side method uses (ngram, suffix); null for the methods
// whose drafts come from elsewhere (eagle3: the backend; oracle: the caller supplies it).
std::unique_ptr<DraftProposer> make_draft_proposer(const SpeculativeConfig& config);

// How many leading drafts the verify rows accepted: row j verified drafts[j], and its token equals
// the draft exactly when it was accepted. rows holds drafts.size() + 1 rows (the last one samples
// the token after the last draft).
int count_accepted_drafts(std::span<const int32_t> drafts, std::span<const SampledRow> rows);

class Speculator {
 public:
  Speculator(const SpeculativeConfig& config, std::unique_ptr<DraftProposer> proposer);

  const SpeculativeConfig& config() const { return config_; }
  // Whether the step about to be scheduled speculates, given the running sequences.
  bool active(int num_running) const { return num_running <= config_.batch_size_limit(); }
  // Sets seq.draft_token_ids for its next step: at most num_speculative_tokens, and none past the
  // last position the sequence may compute.
  void propose(Sequence& seq);
  // Whether the sequence's next step must reach the host before the one after is scheduled, so
  // that it can draft. A sequence whose last kDraftlessBeforeBackoff proposals found nothing (text
  // n-gram or suffix lookup cannot continue) stops holding async scheduling back, and tries again
  // at every kProbeInterval-th position: speculation costs next to nothing where it cannot help.
  bool wants_tokens(const Sequence& seq) const;
  static constexpr int kDraftlessBeforeBackoff = 4;
  static constexpr int kProbeInterval = 8;
  // Counts one verified draft: `num_drafts` drafted, the first `num_accepted` accepted.
  void record(int num_drafts, int num_accepted);
  void on_finished(const Sequence& seq, bool completed);
  const SpecDecodeCounters& counters() const { return counters_; }

 private:
  SpeculativeConfig config_;
  std::unique_ptr<DraftProposer> proposer_;
  SpecDecodeCounters counters_;
};

}  // namespace kiln
