// Prompt lookup decoding (vLLM's "ngram" method): the sequence's last n tokens, for the largest n
// in [min_n, max_n] that occurred earlier in its prompt or output, and the tokens that followed
// that earlier occurrence (the earliest one, as vLLM picks it) become the drafts. No model, no
// state between steps: reasoning traces and code that restate their context draft well, other
// text drafts nothing and costs only the scan.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/spec/draft_proposer.h"

namespace kiln {

// Up to max_drafts tokens following the earliest earlier occurrence of the longest suffix of
// `tokens` whose length lies in [min_n, max_n]; empty when none occurs. The continuation stops at
// the end of `tokens`.
std::vector<int32_t> find_ngram_drafts(std::span<const int32_t> tokens, int min_n, int max_n, int max_drafts);

class NgramProposer : public DraftProposer {
 public:
  NgramProposer(int min_n, int max_n) : min_n_(min_n), max_n_(max_n) {}
  void propose(const DraftContext& context, std::vector<int32_t>* drafts) override {
    *drafts = find_ngram_drafts(context.tokens, min_n_, max_n_, context.max_drafts);
  }

 private:
  int min_n_, max_n_;
};

}  // namespace kiln
