// Speculative decoding's running totals, as vLLM's spec_decode metrics count them: a draft is one
// sequence's drafted tokens in one step; per position, how many drafts had that token accepted.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

struct SpecDecodeCounters {
  int64_t num_drafts = 0;
  int64_t num_draft_tokens = 0;
  int64_t num_accepted_tokens = 0;
  std::vector<int64_t> num_accepted_tokens_per_pos;  // [num_speculative_tokens]; empty when off
};

}  // namespace kiln
