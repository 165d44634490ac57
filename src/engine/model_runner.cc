#include "engine/model_runner.h"

#include <algorithm>

#include "base/check.h"

namespace kiln {

PreparedStep prepare_step(const SchedulerOutput& output, const Scheduler& scheduler) {
  PreparedStep step;
  ForwardBatch& b = step.batch;
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
    KILN_CHECK_LE(end, seq->num_tokens());
    KILN_CHECK_LE(end, static_cast<int>(table.size()) * block_size);
    const int row0 = b.num_tokens();
    for (int pos = s.num_computed_tokens; pos < end; ++pos) {
      b.token_ids.push_back(seq->token_ids[pos]);
      b.positions.push_back(pos);
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
      b.logits_indices.push_back(b.num_tokens() - 1);
    }
    step.rows.push_back(rows);
  }
  return step;
}

}  // namespace kiln
