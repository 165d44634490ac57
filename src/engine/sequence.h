// One sequence the scheduler moves through waiting -> running -> finished: a request's prompt
// and the tokens generated so far, and how many of them have K/V in the cache. A request with
// n > 1 choices has n sequences.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

enum class SequenceStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  int64_t seq_id = 0;
  std::string request_id;
  int choice_index = 0;
  std::vector<int32_t> token_ids;  // prompt then output
  int num_prompt_tokens = 0;
  int num_computed_tokens = 0;     // tokens whose K/V is in the cache
  int num_cached_tokens = 0;       // prompt tokens served by the prefix cache at first admission
  int priority = 0;                // lower runs first
  int64_t arrival_order = 0;       // FCFS order among equal priorities
  // A sibling choice that waits until this sequence's prompt is computed, so that it takes the
  // prompt's full blocks from the prefix cache instead of computing them again; -1 = none.
  int64_t wait_for_seq_id = -1;
  bool wants_prompt_logprobs = false;
  bool admitted_before = false;    // false until first admission (prefix stats count once)
  SequenceStatus status = SequenceStatus::kWaiting;

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
};

}  // namespace kiln
