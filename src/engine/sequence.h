// One choice of a request, as every part of the engine sees it: the scheduler's view (tokens,
// progress through the KV cache, priority), the sampling settings, and the output side
// (detokenizer, stop strings, what the next output carries). A request with n > 1 choices has n
// sequences, owned by its RequestState (engine/request_state.h); the scheduler holds pointers.
//
// Tokens sampled by a step that is still in flight are known on the device before the host: the
// engine appends kPendingToken for each at launch and writes the id in when it collects the step.
// A step launched meanwhile takes that token on the device (StepInput::token_from_previous_sample).
#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/detokenizer.h"
#include "engine/generation_defaults.h"
#include "engine/request_output.h"
#include "engine/sequence_grammar.h"
#include "engine/spec/draft_tree.h"
#include "engine/stop_string_checker.h"

namespace kiln {

struct RequestState;

inline constexpr int32_t kPendingToken = -1;

enum class SequenceStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  int64_t seq_id = 0;
  std::string request_id;
  int choice_index = 0;
  RequestState* request = nullptr;  // the owner (null in scheduler-only tests)

  // Scheduling.
  std::vector<int32_t> token_ids;  // prompt then output; kPendingToken where a launched step samples
  int num_prompt_tokens = 0;
  // The scheduler computes no position at or past this (prompt + max output tokens, at most
  // max_model_len): the sequence's last token is never fed back.
  int max_num_tokens = INT_MAX;
  int num_computed_tokens = 0;   // tokens whose K/V is in the cache or written by a launched step
  int num_collected_tokens = 0;  // of those, written by a step whose results are collected
  int num_cached_tokens = 0;     // prompt tokens served by the prefix cache at first admission
  int priority = 0;              // lower runs first
  int64_t arrival_order = 0;     // FCFS order among equal priorities
  // A sibling choice that waits until this sequence's prompt is collected, so that it takes the
  // prompt's full blocks from the prefix cache instead of computing them again; -1 = none.
  int64_t wait_for_seq_id = -1;
  bool wants_prompt_logprobs = false;
  bool admitted_before = false;  // false until first admission (prefix stats count once)
  SequenceStatus status = SequenceStatus::kWaiting;

  // Sampling.
  ResolvedSampling sampling;
  int pending_sample_row = -1;  // the in-flight step's sampled row whose token is token_ids.back()
  // Structured outputs: the grammar its tokens must follow (null: free). Reached through a
  // pointer so that building a step's masks, from the scheduler's const view, can advance it.
  std::unique_ptr<SequenceGrammar> grammar;
  // Speculative decoding (engine/spec/): the tree of tokens drafted to follow token_ids (a chain
  // for most methods), which the next decode step feeds after the last token and verifies;
  // consumed when scheduled.
  DraftTree drafts;
  bool speculative = true;  // may draft (EngineRequest::speculative)
  int num_draftless_proposals = 0;  // consecutive proposals that found nothing to draft

  // Output.
  std::unique_ptr<IncrementalDetokenizer> detokenizer;
  StopStringChecker stopper;
  int num_output_tokens_collected = 0;  // generated tokens whose ids reached the host
  bool finished = false;
  bool changed = false;       // `pending` holds something to emit
  CompletionOutput pending;   // what the next output carries, reset by emit

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  // The penalties and a grammar's mask read the generated tokens' ids, so the next step's
  // sampling row can only be built once the last one is on the host.
  bool sampling_reads_output() const {
    return sampling.repetition_penalty != 1.0f || sampling.frequency_penalty != 0.0f ||
           sampling.presence_penalty != 0.0f || grammar != nullptr;
  }
};

}  // namespace kiln
