#include "engine/model_runner.h"

#include <algorithm>
#include <span>

#include "base/check.h"
#include "engine/sampling_rows.h"

namespace kiln {
namespace {

// The token masks of the step's constrained sampling rows, one bitmasks row each. The matchers
// are independent (their compiled grammars are safe to share), so the masks are written in
// parallel: with every one of 256 sequences constrained, one thread's masks left the GPU idle
// for 8% of each step on an H100. A row whose constraint is off (not started, or ended) keeps
// bitmask_row -1 and its zeroed row goes unread.
void add_grammar_masks(const std::vector<std::pair<const Sequence*, size_t>>& constrained, int vocab_size,
                       cpu::ThreadPool* pool, StepInput* input) {
  if (constrained.empty()) return;
  const Sequence& first = *constrained.front().first;
  const int words = vocab_size > 0 ? sampling_bitmask_words(vocab_size)
                                   : first.grammar->matcher().grammar().vocabulary().bitmask_words();
  input->bitmask_words = words;
  input->bitmasks.assign(constrained.size() * static_cast<size_t>(words), 0);
  std::vector<char> masked(constrained.size(), 0);
  const auto write = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const Sequence& seq = *constrained[static_cast<size_t>(i)].first;
      const std::span<uint32_t> row(input->bitmasks.data() + static_cast<size_t>(i) * static_cast<size_t>(words),
                                    static_cast<size_t>(words));
      masked[static_cast<size_t>(i)] = seq.grammar->write_mask(seq, row);
    }
  };
  const auto count = static_cast<int64_t>(constrained.size());
  if (pool != nullptr && count > 1) {
    pool->parallel_for(count, write, cpu::ThreadPool::kMinChunkCost / 4);
  } else {
    write(0, count);
  }
  for (size_t i = 0; i < constrained.size(); ++i) {
    if (masked[i]) input->sampling_rows[constrained[i].second].bitmask_row = static_cast<int32_t>(i);
  }
}

}  // namespace

PreparedStep prepare_step(const SchedulerOutput& output, const Scheduler& scheduler, int vocab_size,
                          cpu::ThreadPool* mask_pool) {
  PreparedStep step;
  std::vector<std::pair<const Sequence*, size_t>> constrained;  // (sequence, its sampling row)
  ForwardBatch& b = step.input.batch;
  std::vector<int32_t>& sources = step.input.token_from_previous_sample;
  std::vector<int32_t> parents;  // ForwardBatch::tree_parents, built once a sequence feeds a tree
  bool feeds_tree = false;
  const int block_size = scheduler.kv_cache().block_size();
  int max_blocks = 0;
  for (const ScheduledSequence& s : output.sequences) {
    max_blocks = std::max(max_blocks, static_cast<int>(scheduler.block_table(s.seq_id).size()));
  }
  b.max_blocks_per_seq = max_blocks;
  b.token_ids.reserve(output.total_num_tokens);
  b.positions.reserve(output.total_num_tokens);
  b.slot_mapping.reserve(output.total_num_tokens);
  b.query_start.push_back(0);
  b.block_tables.assign(static_cast<size_t>(max_blocks) * output.sequences.size(), -1);

  for (size_t i = 0; i < output.sequences.size(); ++i) {
    const ScheduledSequence& s = output.sequences[i];
    const Sequence* seq = scheduler.find(s.seq_id);
    KILN_CHECK(seq != nullptr) << "scheduled sequence " << s.seq_id << " is unknown";
    const auto table = scheduler.block_table(s.seq_id);
    const int end = s.num_computed_tokens + s.num_new_tokens;
    const int num_drafts = s.num_drafts();
    const int fed_end = end - num_drafts;  // drafts follow the sequence's known tokens
    KILN_CHECK_LE(fed_end, seq->num_tokens());
    KILN_CHECK(num_drafts == 0 || fed_end == seq->num_tokens()) << "drafts of sequence " << s.seq_id << " do not follow its last token";
    KILN_CHECK_LE(end, static_cast<int>(table.size()) * block_size);
    const int row0 = b.num_tokens();
    // Draft node i sits in the slot of position fed_end + i, at position root + its depth.
    const DraftTree& tree = s.drafts;
    KILN_CHECK(*draft_tree_error(tree) == '\0') << "sequence " << s.seq_id << ": " << draft_tree_error(tree);
    if (!tree.is_chain() && !feeds_tree) {
      // The step so far is chains: each sequence's first token has no parent.
      feeds_tree = true;
      for (size_t q = 0; q + 1 < b.query_start.size(); ++q) {
        for (int t = b.query_start[q]; t < b.query_start[q + 1]; ++t) parents.push_back(t - b.query_start[q] - 1);
      }
    }
    for (int pos = s.num_computed_tokens; pos < end; ++pos) {
      const int node = pos - fed_end;
      const int32_t token = node < 0 ? seq->token_ids[pos] : tree.tokens[static_cast<size_t>(node)];
      const int position = node < 0 ? pos : fed_end - 1 + tree.depth(node);
      if (feeds_tree) {
        const int local = pos - s.num_computed_tokens;  // index within the sequence's new tokens
        parents.push_back(local == 0 ? -1 : node <= 0 ? local - 1 : (fed_end - s.num_computed_tokens) + tree.parents[static_cast<size_t>(node)]);
      }
      if (token == kPendingToken) {
        // Only a sequence's last token can still be on its way from the step before.
        KILN_CHECK(pos == seq->num_tokens() - 1 && seq->pending_sample_row >= 0)
            << "sequence " << s.seq_id << " feeds an unknown token at position " << pos;
        if (sources.empty()) sources.assign(b.token_ids.size(), -1);
        sources.push_back(seq->pending_sample_row);
      } else if (!sources.empty()) {
        sources.push_back(-1);
      }
      b.token_ids.push_back(token);
      b.positions.push_back(position);
      b.slot_mapping.push_back(static_cast<int64_t>(table[pos / block_size]) * block_size +
                               pos % block_size);
    }
    b.query_start.push_back(b.num_tokens());
    b.seq_lens.push_back(end);
    std::copy(table.begin(), table.end(), b.block_tables.begin() + i * max_blocks);

    SequenceRows rows;
    rows.seq_id = s.seq_id;
    if (seq->wants_prompt_logprobs) {
      // Token at position p predicts token p + 1; prompt tokens 1..P-1 get a logprob.
      const int last = std::min(end, seq->num_prompt_tokens - 1);
      if (last > s.num_computed_tokens) {
        rows.prompt_row_begin = static_cast<int>(b.logits_indices.size());
        rows.num_prompt_rows = last - s.num_computed_tokens;
        rows.first_prompt_position = s.num_computed_tokens + 1;
        for (int pos = s.num_computed_tokens; pos < last; ++pos) {
          b.logits_indices.push_back(row0 + pos - s.num_computed_tokens);
        }
      }
    }
    if (s.samples) {
      rows.sample_row = static_cast<int>(b.logits_indices.size());
      rows.sampled_index = static_cast<int>(step.input.sampling_rows.size());
      rows.num_sampled_rows = 1 + num_drafts;
      const std::span<const int32_t> tokens(seq->token_ids);
      const std::span<const int32_t> prompt = tokens.first(seq->num_prompt_tokens);
      std::span<const int32_t> generated = tokens.subspan(seq->num_prompt_tokens);
      KILN_CHECK(!seq->sampling_reads_output() ||
                 std::find(generated.begin(), generated.end(), kPendingToken) == generated.end())
          << "sequence " << s.seq_id << " has penalties but its last token is not on the host";
      // The row at draft node i samples as if the node's path were accepted: its history
      // (penalties, min_tokens, the draw's counter) holds the path's tokens. It walks its first
      // child's token first (kernels/sampling.h), which for a chain is the next draft.
      std::vector<int32_t> history;
      for (int j = 0; j <= num_drafts; ++j) {
        const int node = j - 1;  // -1: the root
        const int logits_row = static_cast<int>(b.logits_indices.size());
        b.logits_indices.push_back(b.num_tokens() - 1 - num_drafts + j);
        std::span<const int32_t> output = generated;
        if (node >= 0) {
          history.assign(generated.begin(), generated.end());
          const size_t path_begin = history.size();
          for (int n = node; n >= 0; n = tree.parents[static_cast<size_t>(n)]) history.push_back(tree.tokens[static_cast<size_t>(n)]);
          std::reverse(history.begin() + static_cast<std::ptrdiff_t>(path_begin), history.end());
          output = history;
        }
        SamplingRowParams row = make_sampling_row(seq->sampling, logits_row, prompt, output, &step.input.adjustments);
        const int child = tree.first_child(node);
        if (child >= 0) row.draft_token_id = tree.tokens[static_cast<size_t>(child)];
        step.input.sampling_rows.push_back(row);
      }
      // A structured output's row is masked to its grammar (such sequences do not draft).
      KILN_CHECK(!seq->grammar || num_drafts == 0) << "sequence " << s.seq_id << " has a grammar and drafts";
      if (seq->grammar) constrained.emplace_back(seq, step.input.sampling_rows.size() - 1);
      step.next_step_needs_tokens = step.next_step_needs_tokens || seq->sampling_reads_output();
    }
    step.rows.push_back(rows);
  }

  b.tree_parents = std::move(parents);
  add_grammar_masks(constrained, vocab_size, mask_pool, &step.input);

  step.result_logits_row.assign(b.logits_indices.size(), -1);
  std::vector<bool> sampled(b.logits_indices.size(), false);
  for (const SamplingRowParams& row : step.input.sampling_rows) sampled[static_cast<size_t>(row.logits_row)] = true;
  for (size_t r = 0; r < sampled.size(); ++r) {
    if (!sampled[r]) step.result_logits_row[r] = step.num_result_logits_rows++;
  }
  return step;
}

}  // namespace kiln
