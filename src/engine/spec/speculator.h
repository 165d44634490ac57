// The engine's side of speculative decoding: whether a step speculates, drafting for a sequence
// after its tokens are applied, counting what the verify rows accepted. The drafts are a tree
// (engine/spec/draft_tree.h; a chain for one continuation); the verification is the sampling
// operator's (kernels/sampling.h: a row per node) and the acceptance walk's; the scheduler feeds
// the nodes after the sequence's last token and takes back the positions of rejected ones, and the
// engine has the next step move the accepted nodes' K/V into place.
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

class Speculator {
 public:
  Speculator(const SpeculativeConfig& config, std::unique_ptr<DraftProposer> proposer);

  const SpeculativeConfig& config() const { return config_; }
  // Whether the step about to be scheduled speculates, given the running sequences.
  bool active(int num_running) const { return num_running <= config_.batch_size_limit(); }
  // Sets seq.drafts for its next step: at most num_speculative_tokens nodes, at most
  // draft_tree_topk children per node, and none past the last position the sequence may compute.
  void propose(Sequence& seq);
  // Whether the sequence's next step must reach the host before the one after is scheduled, so
  // that it can draft. A sequence whose last kDraftlessBeforeBackoff proposals found nothing (text
  // n-gram or suffix lookup cannot continue) stops holding async scheduling back, and tries again
  // at every kProbeInterval-th position: speculation costs next to nothing where it cannot help.
  bool wants_tokens(const Sequence& seq) const;
  static constexpr int kDraftlessBeforeBackoff = 4;
  static constexpr int kProbeInterval = 8;
  // Counts one verified draft: `num_drafts` tokens (tree nodes) drafted, `num_accepted` of them
  // accepted (per position: the accepted path's depths 1..num_accepted).
  void record(int num_drafts, int num_accepted);
  void on_finished(const Sequence& seq, bool completed);
  const SpecDecodeCounters& counters() const { return counters_; }

 private:
  SpeculativeConfig config_;
  std::unique_ptr<DraftProposer> proposer_;
  SpecDecodeCounters counters_;
};

}  // namespace kiln
