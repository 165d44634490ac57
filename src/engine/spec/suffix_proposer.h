// Suffix decoding (vLLM's "suffix" method, after Arctic Inference's): the drafts continue the
// longest recent match of the sequence's last tokens, chosen by how often each continuation
// followed that match, in the sequence's own prompt and output and in the outputs of recent
// requests. The draft grows while the estimated probability of the whole draft (the product of
// each token's share of the continuations) stays at least min_token_prob, up to
// max_spec_factor x the match length and max_tree_depth for match and draft together, so a long,
// often-repeated match drafts far and a short or ambiguous one drafts little or nothing. With
// draft trees (draft_tree_topk k > 1) the draft grows best first over up to k continuations per
// node, as Arctic Inference's speculation trees do, within the same probability floor.
//
// The matches are found through an index of the token pairs in each corpus (what a depth-limited
// suffix tree's second level holds), so a step costs a lookup and a scan of the most recent
// occurrences of the last pair, not a pass over the whole text.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/spec/draft_proposer.h"

namespace kiln {

struct SuffixDecodingParams {
  int max_tree_depth = 24;         // match + draft tokens at most
  int max_cached_requests = 10000;  // finished outputs kept for later requests; 0: none
  double max_spec_factor = 1.0;     // draft tokens per matched token at most
  double min_token_prob = 0.1;      // the draft's estimated probability at least
};

// A draft tree (engine/spec/draft_tree.h): a chain unless max_branches > 1.
struct SuffixDraft {
  std::vector<int32_t> tokens;
  std::vector<int32_t> parents;
  double score = 0;  // the expected number of accepted tokens (sum of the nodes' probabilities)
};

// Token sequences (documents) with an index of the positions where each token pair ends.
class SuffixCorpus {
 public:
  // Appends to document `doc` (a new one when unknown) and indexes its new pairs.
  void append(int64_t doc, std::span<const int32_t> tokens);
  // Forgets the document (its index entries go at the next compaction).
  void remove(int64_t doc);
  int num_tokens(int64_t doc) const;
  // The best draft continuing `context` with at most `max_drafts` tokens (at most max_branches
  // children per node), never matching the occurrence that ends at (exclude_doc, exclude_end)
  // (the context itself, when it is indexed).
  SuffixDraft draft(std::span<const int32_t> context, int max_drafts, const SuffixDecodingParams& params,
                    int64_t exclude_doc = -1, int exclude_end = -1, int max_branches = 1) const;

 private:
  struct Occurrence {
    int64_t doc;
    int32_t end;  // position of the pair's second token
  };
  void compact();

  std::unordered_map<int64_t, std::vector<int32_t>> docs_;
  std::unordered_map<uint64_t, std::vector<Occurrence>> pairs_;  // in insertion order
  size_t num_live_entries_ = 0, num_dead_entries_ = 0;
};

class SuffixProposer : public DraftProposer {
 public:
  explicit SuffixProposer(const SuffixDecodingParams& params) : params_(params) {}
  void propose(const DraftContext& context, DraftTree* drafts) override;
  void on_finished(const DraftContext& context, bool completed) override;

 private:
  SuffixDecodingParams params_;
  std::unordered_map<int64_t, std::unique_ptr<SuffixCorpus>> sequences_;  // each sequence's own text
  SuffixCorpus finished_;                                                 // recent requests' outputs
  std::deque<int64_t> finished_order_;                                    // oldest first
  int64_t next_finished_ = 0;
};

}  // namespace kiln
