// The backend as the engine sees it: launch(StepInput) hands it one step, collect(StepResult*)
// returns that step's sampled tokens. The backend owns the weights and the paged KV cache memory;
// block ids in the batch index that memory. Sampling runs in the backend, on the device where
// the logits are, with the sampling operator (kernels/sampling.h; its CPU twin on the CPU): only
// token ids and requested logprobs come back, plus whole logits rows for prompt logprobs.
//
// Steps are collected in the order they were launched, and at most two are uncollected at once:
// the engine may launch step N+1 before collecting step N. Step N+1's decode inputs may then be
// tokens step N samples, which the host does not know yet: StepInput::token_from_previous_sample
// names the row of step N's sampled output holding each, and the backend takes them from there
// (on the device, for a GPU). A synchronous backend finishes the step inside launch(); an
// asynchronous one queues it and returns, so the host prepares the next step meanwhile.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/spec/draft_tree.h"
#include "kernels/sampling.h"
#include "model/forward_batch.h"

namespace kiln {

// Speculative decoding with a draft model in the backend (EAGLE-3): a sequence of the step whose
// draft state the backend keeps.
struct BackendDraftSequence {
  int64_t seq_id = 0;
  int batch_index = 0;     // its sequence of the batch (query_start[batch_index] is its first row)
  int sampled_index = -1;  // its first entry of sampling_rows; -1 when it does not sample this step
  // Draft-tree nodes fed after its last token this step (batch.tree_parents gives their parents
  // when any sequence's are not a chain): sampling rows sampled_index .. + num_verified_drafts
  // are the root's and the nodes', and the acceptance walk over them (engine/spec/draft_tree.h)
  // gives the kept path and the next token.
  int num_verified_drafts = 0;
  int num_drafts = 0;    // draft tokens (tree nodes) to propose for its next step (0: only keep the state)
  int max_branches = 1;  // children per node of that tree (1: a chain)
};

// Plain data, built by the model runner (engine/model_runner.h).
struct StepInput {
  // Tokens, positions, slots, block tables, and the rows that need logits (logits_indices).
  // A token taken from the previous step's samples is kPendingToken (-1) here.
  ForwardBatch batch;
  // [batch.num_tokens()] or empty: per token, the row of the previous launched step's sampled
  // output whose token id it is, or -1 when batch.token_ids holds it.
  std::vector<int32_t> token_from_previous_sample;
  // One per sampled logits row, logits_row ascending and indexing batch.logits_indices; each
  // row's entries of `adjustments` are its min_tokens blocks, logit_bias and penalties.
  std::vector<SamplingRowParams> sampling_rows;
  std::vector<LogitAdjustment> adjustments;
  // Structured outputs: [rows, bitmask_words] token masks, read by the sampling rows whose
  // bitmask_row >= 0; bitmask_words is sampling_bitmask_words(vocab) of the model's vocabulary.
  std::vector<uint32_t> bitmasks;
  int bitmask_words = 0;
  // EAGLE-3: the sequences the backend drafts for, in batch order (empty: no backend drafting),
  // and those that ended since the last step, whose draft state it drops.
  std::vector<BackendDraftSequence> draft_sequences;
  std::vector<int64_t> released_seq_ids;
};

struct StepResult {
  std::vector<SampledRow> sampled;  // one per StepInput::sampling_rows entry, in order
  // The logits rows that do not sample (prompt logprobs), in logits_indices order:
  // [count, vocab_size] f32.
  std::vector<float> logits;
  // EAGLE-3: per StepInput::draft_sequences entry, the tree of target token ids drafted for its
  // next step (empty when the backend does not draft).
  std::vector<DraftTree> drafts;
};

// Checks the rows a step samples against its batch, and the token sources against the previous
// launched step's `num_previous_sampled` rows, before anything runs (every backend calls it).
Status check_step_input(const StepInput& input, int num_previous_sampled);

class ModelExecutor {
 public:
  virtual ~ModelExecutor() = default;
  virtual int vocab_size() const = 0;
  // Starts the step. An error means nothing was launched: the engine does not collect it.
  virtual Status launch(const StepInput& input) = 0;
  // The oldest launched step's result; waits for it on an asynchronous backend. An error fails
  // that step only.
  virtual Status collect(StepResult* result) = 0;
  // True when launch() returns before the step's work is done, so that launching the next step
  // before collecting this one keeps the device busy while the host works.
  virtual bool runs_asynchronously() const { return false; }
  // Seconds the device spent on steps (first copy in to last copy out), summed since start;
  // -1 when the backend does not measure it. Read from any thread.
  virtual double device_busy_seconds() const { return -1.0; }
};

}  // namespace kiln
