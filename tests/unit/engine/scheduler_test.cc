#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "engine/model_runner.h"

namespace kiln {
namespace {

struct Harness {
  Harness(int num_blocks, int block_size, SchedulerConfig config)
      : kv(num_blocks, block_size, true), scheduler(config, &kv) {}

  void add(int64_t id, int prompt_len, int max_output, int priority = 0, int first_token = 0) {
    auto seq = std::make_unique<Sequence>();
    seq->seq_id = id;
    seq->request_id = "r" + std::to_string(id);
    for (int i = 0; i < prompt_len; ++i) seq->token_ids.push_back(first_token + i);
    seq->num_prompt_tokens = prompt_len;
    seq->max_num_tokens = prompt_len + max_output;
    seq->priority = priority;
    seq->arrival_order = next_arrival++;
    max_output_[id] = max_output;
    scheduler.add(seq.get());
    seqs_[id] = std::move(seq);
  }

  // One step with a fake runner: every sampling sequence gets token 1; sequences that reach
  // their max output finish.
  SchedulerOutput step() {
    SchedulerOutput out = scheduler.schedule();
    const PreparedStep prepared = prepare_step(out, scheduler);  // checks slot/table invariants
    EXPECT_EQ(prepared.input.batch.num_tokens(), out.total_num_tokens);
    scheduler.on_step_done(out);
    for (const ScheduledSequence& s : out.sequences) {
      if (!s.samples) continue;
      Sequence* seq = scheduler.find(s.seq_id);
      seq->token_ids.push_back(1);
      if (seq->num_output_tokens() >= max_output_[s.seq_id]) {
        finished.push_back(s.seq_id);
        scheduler.finish(s.seq_id);
      }
    }
    return out;
  }

  KvCacheManager kv;
  Scheduler scheduler;
  int64_t next_arrival = 0;
  std::vector<int64_t> finished;
  std::map<int64_t, int> max_output_;
  std::map<int64_t, std::unique_ptr<Sequence>> seqs_;
};

TEST(SchedulerTest, ChunksLongPromptsWithinTheTokenBudget) {
  Harness h(64, 4, {.max_num_batched_tokens = 32, .max_num_seqs = 8, .max_model_len = 256});
  h.add(0, 100, 2);
  std::vector<int> chunks;
  std::vector<bool> samples;
  for (int i = 0; i < 4; ++i) {
    const SchedulerOutput out = h.step();
    ASSERT_EQ(out.sequences.size(), 1u);
    chunks.push_back(out.sequences[0].num_new_tokens);
    samples.push_back(out.sequences[0].samples);
  }
  EXPECT_EQ(chunks, (std::vector<int>{32, 32, 32, 4}));
  EXPECT_EQ(samples, (std::vector<bool>{false, false, false, true}));
  const SchedulerOutput decode = h.step();
  EXPECT_EQ(decode.sequences[0].num_new_tokens, 1);
  EXPECT_EQ(h.finished, (std::vector<int64_t>{0}));
}

TEST(SchedulerTest, BudgetSharedByDecodesAndPrefillsAndMaxNumSeqsHonoured) {
  Harness h(256, 4, {.max_num_batched_tokens = 20, .max_num_seqs = 3, .max_model_len = 256});
  for (int i = 0; i < 8; ++i) h.add(i, 5 + 7 * i, 6);
  for (int step = 0; step < 200 && h.scheduler.has_work(); ++step) {
    const SchedulerOutput out = h.step();
    int sum = 0;
    for (const auto& s : out.sequences) sum += s.num_new_tokens;
    EXPECT_EQ(sum, out.total_num_tokens);
    EXPECT_LE(out.total_num_tokens, 20);
    EXPECT_LE(h.scheduler.num_running(), 3);
    EXPECT_LE(out.sequences.size(), 3u);
  }
  EXPECT_EQ(h.finished.size(), 8u);
  EXPECT_EQ(h.kv.pool().num_free_blocks(), 256);
}

TEST(SchedulerTest, PreemptsNewestFirstWhenBlocksRunOutAndEverythingCompletes) {
  // 3 sequences of 8 prompt tokens in 2-token blocks: 12 blocks hold all prompts, not their
  // outputs.
  Harness h(13, 2, {.max_num_batched_tokens = 64, .max_num_seqs = 8, .max_model_len = 64});
  for (int i = 0; i < 3; ++i) h.add(i, 8, 8, 0, 100 * i);
  std::vector<int64_t> preempted;
  for (int step = 0; step < 200 && h.scheduler.has_work(); ++step) {
    const SchedulerOutput out = h.step();
    preempted.insert(preempted.end(), out.preempted_seq_ids.begin(), out.preempted_seq_ids.end());
  }
  ASSERT_FALSE(preempted.empty());
  EXPECT_EQ(preempted[0], 2);  // the newest goes first
  EXPECT_EQ(h.scheduler.num_preemptions(), static_cast<int64_t>(preempted.size()));
  EXPECT_EQ(h.finished.size(), 3u);
  EXPECT_EQ(h.finished[0], 0);  // the oldest is never preempted and finishes first
  EXPECT_EQ(h.kv.pool().num_free_blocks(), 13);
}

TEST(SchedulerTest, PreemptsLowestPriorityFirst) {
  Harness h(13, 2, {.max_num_batched_tokens = 64, .max_num_seqs = 8, .max_model_len = 64});
  h.add(0, 8, 8, /*priority=*/5, 0);
  h.add(1, 8, 8, /*priority=*/0, 100);
  h.add(2, 8, 8, /*priority=*/1, 200);
  std::vector<int64_t> preempted;
  for (int step = 0; step < 200 && h.scheduler.has_work(); ++step) {
    const SchedulerOutput out = h.step();
    preempted.insert(preempted.end(), out.preempted_seq_ids.begin(), out.preempted_seq_ids.end());
  }
  ASSERT_FALSE(preempted.empty());
  EXPECT_EQ(preempted[0], 0);
  EXPECT_EQ(h.finished.size(), 3u);
}

TEST(SchedulerTest, AbortFreesEveryBlockAtOnce) {
  Harness h(64, 4, {.max_num_batched_tokens = 16, .max_num_seqs = 8, .max_model_len = 256});
  h.add(0, 40, 100);
  h.add(1, 10, 100);
  h.add(2, 10, 100);
  for (int i = 0; i < 5; ++i) h.step();
  EXPECT_LT(h.kv.pool().num_free_blocks(), 64);
  for (int64_t id : {1, 0, 2}) h.scheduler.finish(id);
  EXPECT_EQ(h.kv.pool().num_free_blocks(), 64);
  EXPECT_FALSE(h.scheduler.has_work());
  EXPECT_TRUE(h.step().empty());
}

TEST(SchedulerTest, FinishingMostOfALongQueueKeepsTheRestInOrder) {
  // One request can queue hundreds of thousands of sequences; finishing them leaves their ids
  // behind until the next schedule, and the counts, the order and the blocks stay right.
  Harness h(64, 4, {.max_num_batched_tokens = 16, .max_num_seqs = 2, .max_model_len = 256});
  for (int64_t id = 0; id < 20000; ++id) h.add(id, 4, 1);
  EXPECT_EQ(h.scheduler.num_waiting(), 20000);
  for (int64_t id = 0; id < 20000; ++id) {
    if (id % 1000 != 7) h.scheduler.finish(id);
  }
  EXPECT_EQ(h.scheduler.num_waiting(), 20);
  EXPECT_EQ(h.scheduler.num_running(), 0);
  h.add(20000, 4, 1);  // an insertion among finished ids
  EXPECT_EQ(h.scheduler.num_waiting(), 21);
  std::vector<int64_t> admitted;
  for (int step = 0; step < 100 && h.scheduler.has_work(); ++step) {
    const SchedulerOutput out = h.step();
    admitted.insert(admitted.end(), out.admitted_seq_ids.begin(), out.admitted_seq_ids.end());
  }
  std::vector<int64_t> expected;
  for (int64_t id = 7; id < 20000; id += 1000) expected.push_back(id);
  expected.push_back(20000);
  EXPECT_EQ(admitted, expected);
  EXPECT_EQ(h.finished, expected);
  EXPECT_EQ(h.kv.pool().num_free_blocks(), 64);
}

TEST(SchedulerTest, FinishingRunningSequencesUpdatesTheCountsAtOnce) {
  Harness h(64, 4, {.max_num_batched_tokens = 64, .max_num_seqs = 8, .max_model_len = 256});
  for (int64_t id = 0; id < 4; ++id) h.add(id, 4, 100);
  h.step();
  EXPECT_EQ(h.scheduler.num_running(), 4);
  h.scheduler.finish(1);
  h.scheduler.finish(2);
  EXPECT_EQ(h.scheduler.num_running(), 2);
  EXPECT_TRUE(h.scheduler.has_work());
  const SchedulerOutput out = h.step();
  ASSERT_EQ(out.sequences.size(), 2u);
  EXPECT_EQ(out.sequences[0].seq_id, 0);
  EXPECT_EQ(out.sequences[1].seq_id, 3);
}

TEST(SchedulerTest, LongRequestIsNotOvertakenByLaterShortOnes) {
  // Blocks for the long prompt only free up when earlier work finishes; short requests that
  // arrive later must wait behind it (FCFS, no starvation).
  Harness h(20, 4, {.max_num_batched_tokens = 64, .max_num_seqs = 16, .max_model_len = 256});
  h.add(0, 40, 4);  // 10 blocks + output
  h.add(1, 60, 4);  // 15 blocks: waits until 0 is done
  for (int i = 2; i < 12; ++i) h.add(i, 4, 2);
  std::map<int64_t, int> admitted_at;
  for (int step = 0; step < 400 && h.scheduler.has_work(); ++step) {
    const SchedulerOutput out = h.step();
    for (int64_t id : out.admitted_seq_ids) admitted_at.emplace(id, step);
  }
  EXPECT_EQ(h.finished.size(), 12u);
  for (int i = 2; i < 12; ++i) EXPECT_GE(admitted_at[i], admitted_at[1]) << i;
}

TEST(SchedulerTest, LowerPriorityValueIsAdmittedFirst) {
  Harness h(64, 4, {.max_num_batched_tokens = 8, .max_num_seqs = 1, .max_model_len = 256});
  h.add(0, 4, 1, 3);
  h.add(1, 4, 1, 0);
  h.add(2, 4, 1, 3);
  for (int step = 0; step < 20 && h.scheduler.has_work(); ++step) h.step();
  EXPECT_EQ(h.finished, (std::vector<int64_t>{1, 0, 2}));
}

TEST(ModelRunnerTest, BuildsSlotMappingAndBlockTables) {
  Harness h(16, 4, {.max_num_batched_tokens = 64, .max_num_seqs = 8, .max_model_len = 256});
  h.add(0, 6, 4);
  h.add(1, 3, 4);
  const SchedulerOutput out = h.scheduler.schedule();
  const PreparedStep step = prepare_step(out, h.scheduler);
  const ForwardBatch& b = step.input.batch;
  EXPECT_EQ(b.query_start, (std::vector<int32_t>{0, 6, 9}));
  EXPECT_EQ(b.seq_lens, (std::vector<int32_t>{6, 3}));
  EXPECT_EQ(b.max_blocks_per_seq, 2);
  EXPECT_EQ(b.block_tables, (std::vector<int32_t>{0, 1, 2, -1}));
  EXPECT_EQ(b.positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0, 1, 2}));
  EXPECT_EQ(b.slot_mapping, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 8, 9, 10}));
  EXPECT_EQ(b.logits_indices, (std::vector<int32_t>{5, 8}));
  EXPECT_EQ(step.rows[1].sample_row, 1);
}

TEST(ModelRunnerTest, FeedsAPendingTokenFromThePreviousStepsSamples) {
  // Async scheduling: a step is scheduled while the previous one, which samples the sequences'
  // next tokens, is in flight. The pending token goes in as -1 with its sampled row named.
  Harness h(16, 4, {.max_num_batched_tokens = 64, .max_num_seqs = 8, .max_model_len = 256});
  h.add(0, 5, 4);
  h.add(1, 3, 4);
  const SchedulerOutput prefill = h.scheduler.schedule();
  const PreparedStep first = prepare_step(prefill, h.scheduler);
  EXPECT_TRUE(first.input.token_from_previous_sample.empty());
  ASSERT_EQ(first.input.sampling_rows.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    Sequence* seq = h.scheduler.find(i);
    seq->token_ids.push_back(kPendingToken);
    seq->pending_sample_row = first.rows[static_cast<size_t>(i)].sampled_index;
  }
  // The prefill's progress counts at once: the next step decodes the pending tokens.
  const SchedulerOutput decode = h.scheduler.schedule();
  ASSERT_EQ(decode.sequences.size(), 2u);
  EXPECT_EQ(decode.sequences[0].num_computed_tokens, 5);
  EXPECT_EQ(decode.sequences[1].num_computed_tokens, 3);
  const PreparedStep second = prepare_step(decode, h.scheduler);
  EXPECT_EQ(second.input.batch.token_ids, (std::vector<int32_t>{kPendingToken, kPendingToken}));
  EXPECT_EQ(second.input.token_from_previous_sample, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(second.input.sampling_rows[1].counter, 1u);  // the pending token counts as output
  // Collected: nothing is registered for the prefix cache beyond the tokens a step wrote.
  h.scheduler.on_step_done(prefill);
  EXPECT_EQ(h.scheduler.find(0)->num_collected_tokens, 5);
  EXPECT_EQ(h.scheduler.find(0)->num_computed_tokens, 6);
}

TEST(SchedulerTest, NeverFeedsASequencesLastToken) {
  // max_tokens 2: the prefill samples token 1, one decode samples token 2; token 2 is never fed.
  Harness h(16, 4, {.max_num_batched_tokens = 64, .max_num_seqs = 8, .max_model_len = 256});
  h.add(0, 5, 2);
  Sequence* seq = h.scheduler.find(0);
  EXPECT_EQ(h.scheduler.schedule().sequences.size(), 1u);
  seq->token_ids.push_back(kPendingToken);
  seq->pending_sample_row = 0;
  EXPECT_EQ(h.scheduler.schedule().sequences.size(), 1u);  // decodes the pending token 1
  seq->token_ids.push_back(kPendingToken);
  EXPECT_TRUE(h.scheduler.schedule().empty());  // token 2 is the last: nothing to compute
  EXPECT_TRUE(h.scheduler.has_work());
}

}  // namespace
}  // namespace kiln
