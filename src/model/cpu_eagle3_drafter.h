// EAGLE-3 drafting on the CPU: after each target step the head (model/eagle3_head.h) adds, for
// every position whose next token is now certain, an entry pairing the target's fused hidden
// state there with that next token to its own per-sequence K/V cache, then drafts a tree as
// EAGLE-2/3 do: the last entry's output gives the top-k first tokens; each level feeds the best
// k nodes of the level before (by cumulative draft log-probability) with their parent's output
// state, one position on, attending to the target entries and their own ancestors only, and
// takes the top k children of each; the best num_drafts nodes of all become the tree. With k = 1
// it is the greedy chain. Entries at positions a later step computes again (rejected drafts, the
// draft's own entries, a recomputed sequence) are dropped first, so the cache always holds
// target-derived entries for the sequence's kept tokens.
//
// The drafts are a guess the target verifies; their only effect on outputs is which positions a
// step computes, so a wrong draft costs speed, never correctness.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/thread_pool.h"
#include "model/eagle3_head.h"
#include "model/forward_batch.h"
#include "model/rope.h"

namespace kiln {

// One sequence's part of a target step.
struct Eagle3StepSequence {
  int64_t seq_id = 0;
  int first_row = 0;  // its rows of the step's batch: [first_row, first_row + num_rows)
  int num_rows = 0;
  // The rows whose tokens stay in the sequence, as offsets from first_row in position order: all
  // of them for a prompt chunk or a plain decode, the last token and the accepted path of the
  // drafts for a verify step (the rest were rejected).
  std::vector<int32_t> kept_rows;
  // The token after the last kept row: the step's sampled token, or -1 when the step does not
  // sample for the sequence (a prompt chunk: the next chunk's first token follows it).
  int32_t next_token = -1;
  int num_drafts = 0;    // draft tokens (tree nodes) to propose after this step (0: only record)
  int max_branches = 1;  // the tree's top k: children per node (1: a chain)
};

// A sequence's drafts: nodes in an order where parents come first; parents[i] is a node index or
// -1 for a child of the sequence's last token.
struct Eagle3Draft {
  std::vector<int32_t> tokens;  // target token ids
  std::vector<int32_t> parents;
};

class CpuEagle3Drafter {
 public:
  // The memory behind `weights` must outlive the drafter.
  static Result<std::unique_ptr<CpuEagle3Drafter>> create(const Eagle3HeadConfig& config,
                                                          const Eagle3HeadWeights& weights, int num_threads);

  // After a target step over `batch`: target_hidden [batch.num_tokens(), 3 * target_hidden] holds
  // each row's states entering the head's target layers (low, mid, high). drafts[i] receives up
  // to sequences[i].num_drafts nodes.
  Status step(const ForwardBatch& batch, const float* target_hidden, std::span<const Eagle3StepSequence> sequences,
              std::vector<Eagle3Draft>* drafts);
  // The sequence ended: its cache is freed.
  void release(int64_t seq_id) { sequences_.erase(seq_id); }

  const Eagle3HeadConfig& config() const { return config_; }
  size_t num_cached_sequences() const { return sequences_.size(); }
  // Positions of a sequence's cached entries (tests).
  std::vector<int32_t> cached_positions(int64_t seq_id) const;

 private:
  struct SequenceCache {
    std::vector<int32_t> positions;  // [n] ascending
    // [n] a draft entry's parent entry; kTargetEntry for the target-derived entries, which come
    // first and see each other causally.
    std::vector<int32_t> parents;
    std::vector<float> k, v;         // [n, kv_heads, head_dim] rotated keys, values
    std::vector<float> pending;      // [3 * target_hidden] the target state awaiting its next token
    int pending_position = -1;
    void truncate_from(int position, int kv_width);
  };

  CpuEagle3Drafter(const Eagle3HeadConfig& config, const Eagle3HeadWeights& weights, int num_threads, RopeParameters rope);
  static constexpr int32_t kTargetEntry = -2;
  // Runs the head over m new entries of `cache` (appending their K/V): state [m, hidden] (fused
  // or the head's own), tokens and positions [m]. out: [m, hidden] the layer's output before the
  // final norm. parents: null for target entries (each sees every entry before it), or [m] the
  // draft entries' parent entries (each sees the target entries, its ancestors and itself).
  void forward(SequenceCache& cache, const float* state, const int32_t* tokens, const int32_t* positions, int m,
               float* out, const int32_t* parents);
  // The draft vocabulary's log-probabilities after an output row (the final norm, lm_head).
  const std::vector<double>& draft_log_probs(const float* out_row);
  // Drafts the tree after the sequence's last kept entry (its output row `root_out`, position
  // `root_position`).
  Eagle3Draft draft_tree(SequenceCache& cache, const float* root_out, int32_t root_position, int num_drafts,
                         int max_branches);

  Eagle3HeadConfig config_;
  Eagle3HeadWeights weights_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  cpu::CpuContext ctx_;
  RopeTable rope_table_;
  std::unordered_map<int64_t, SequenceCache> sequences_;
  // Scratch, resized per call.
  std::vector<float> embedded_, concat_, q_, k_new_, v_new_, attn_, residual_, normed_, gate_, up_, act_, logits_;
  std::vector<double> log_probs_;
};

}  // namespace kiln
