// EAGLE-3 chain drafting on the CPU: after each target step the head (model/eagle3_head.h) adds,
// for every position whose next token is now certain, an entry pairing the target's fused hidden
// state there with that next token to its own per-sequence K/V cache, then drafts greedily: the
// last entry's output gives draft 0, and each further draft feeds the head's own output state
// with the draft before it, one position on. Entries at positions a later step computes again
// (rejected drafts, the chain's own entries, a recomputed sequence) are dropped first, so the
// cache always holds target-derived entries for the sequence's kept tokens.
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
  // Leading rows whose tokens stay in the sequence: all of them for a prompt chunk or a plain
  // decode, the last token and the accepted drafts for a verify step (the rest were rejected).
  int num_kept_rows = 0;
  // The token after the last kept row: the step's sampled token, or -1 when the step does not
  // sample for the sequence (a prompt chunk: the next chunk's first token follows it).
  int32_t next_token = -1;
  int num_drafts = 0;  // drafts to propose after this step (0: only record the entries)
};

class CpuEagle3Drafter {
 public:
  // The memory behind `weights` must outlive the drafter.
  static Result<std::unique_ptr<CpuEagle3Drafter>> create(const Eagle3HeadConfig& config,
                                                          const Eagle3HeadWeights& weights, int num_threads);

  // After a target step over `batch`: target_hidden [batch.num_tokens(), 3 * target_hidden] holds
  // each row's states entering the head's target layers (low, mid, high). drafts[i] receives up
  // to sequences[i].num_drafts target token ids.
  Status step(const ForwardBatch& batch, const float* target_hidden, std::span<const Eagle3StepSequence> sequences,
              std::vector<std::vector<int32_t>>* drafts);
  // The sequence ended: its cache is freed.
  void release(int64_t seq_id) { sequences_.erase(seq_id); }

  const Eagle3HeadConfig& config() const { return config_; }
  size_t num_cached_sequences() const { return sequences_.size(); }
  // Positions of a sequence's cached entries (tests).
  std::vector<int32_t> cached_positions(int64_t seq_id) const;

 private:
  struct SequenceCache {
    std::vector<int32_t> positions;  // [n] ascending
    std::vector<float> k, v;         // [n, kv_heads, head_dim] rotated keys, values
    std::vector<float> pending;      // [3 * target_hidden] the target state awaiting its next token
    int pending_position = -1;
    void truncate_from(int position, int kv_width);
  };

  CpuEagle3Drafter(const Eagle3HeadConfig& config, const Eagle3HeadWeights& weights, int num_threads, RopeParameters rope);
  // Runs the head over m new entries of `cache` (appending their K/V): state [m, hidden] (fused
  // or the head's own), tokens and positions [m]. out: [m, hidden] the layer's output before the
  // final norm; the draft token of the last entry goes to *draft when draft is not null.
  void forward(SequenceCache& cache, const float* state, const int32_t* tokens, const int32_t* positions, int m,
               float* out, int32_t* draft);

  Eagle3HeadConfig config_;
  Eagle3HeadWeights weights_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  cpu::CpuContext ctx_;
  RopeTable rope_table_;
  std::unordered_map<int64_t, SequenceCache> sequences_;
  // Scratch, resized per call.
  std::vector<float> embedded_, concat_, q_, k_new_, v_new_, attn_, residual_, normed_, gate_, up_, act_, logits_;
};

}  // namespace kiln
