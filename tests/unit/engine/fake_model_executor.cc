#include "fake_model_executor.h"

#include "model/forward_batch_check.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace kiln {
namespace {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t history_hash(const std::vector<int32_t>& history) {
  uint64_t h = 0x1234567;
  for (int32_t t : history) h = mix(h ^ static_cast<uint32_t>(t));
  return h;
}

}  // namespace

FakeModelExecutor::FakeModelExecutor(int vocab_size, int num_blocks, int block_size)
    : vocab_size_(vocab_size),
      block_size_(block_size),
      slots_(static_cast<size_t>(num_blocks) * block_size, -1) {}

std::vector<float> FakeModelExecutor::logits_from_hash(uint64_t hash) const {
  std::vector<float> logits(static_cast<size_t>(vocab_size_));
  for (int v = 0; v < vocab_size_; ++v) {
    // Values in [-4, 4): peaked enough that greedy and sampling both vary with the history.
    const uint64_t r = mix(hash ^ (static_cast<uint64_t>(v) * 0xff51afd7ed558ccdULL));
    logits[v] = static_cast<float>(static_cast<double>(r >> 11) * 0x1.0p-53 * 8.0 - 4.0);
  }
  return logits;
}

std::vector<float> FakeModelExecutor::logits_for(const std::vector<int32_t>& history) const {
  return logits_from_hash(history_hash(history));
}

Status FakeModelExecutor::forward(const ForwardBatch& batch, std::vector<float>* logits) {
  ++num_steps_;
  num_tokens_computed_ += batch.num_tokens();
  max_batch_tokens_seen_ = std::max(max_batch_tokens_seen_, batch.num_tokens());
  // As a model's: positions, slots and tree parents consistent (it has no vocabulary to check).
  if (Status status = validate_forward_batch(batch, INT32_MAX, static_cast<int>(slots_.size()) / block_size_, block_size_);
      !status.ok()) {
    return status;
  }
  const auto in_range = [&](int64_t slot) { return slot >= 0 && slot < static_cast<int64_t>(slots_.size()); };
  // Accepted draft-tree nodes move into place before the step writes anything, as in a model.
  for (size_t i = 0; i < batch.kv_move_from.size(); ++i) {
    if (!in_range(batch.kv_move_from[i]) || !in_range(batch.kv_move_to[i])) {
      return Status::error("fake executor: KV move out of range");
    }
    slots_[static_cast<size_t>(batch.kv_move_to[i])] = slots_[static_cast<size_t>(batch.kv_move_from[i])];
  }
  for (int i = 0; i < batch.num_tokens(); ++i) {
    const int64_t slot = batch.slot_mapping[i];
    if (!in_range(slot)) return Status::error("fake executor: slot " + std::to_string(slot) + " out of range");
    slots_[slot] = batch.token_ids[i];
  }
  logits->assign(batch.logits_indices.size() * static_cast<size_t>(vocab_size_), 0.0f);
  // Sequence of each token row, to read its history through its block table: the positions before
  // the sequence's new tokens, then the new tokens on the row's path (all of them before it, unless
  // the step feeds a draft tree).
  for (size_t r = 0; r < batch.logits_indices.size(); ++r) {
    const int row = batch.logits_indices[r];
    int s = 0;
    while (batch.query_start[s + 1] <= row) ++s;
    const int begin = batch.query_start[s];
    const int first_new = batch.seq_lens[s] - (batch.query_start[s + 1] - begin);
    std::vector<int> path;  // slot positions of the row's path among the new tokens
    for (int j = row - begin; j >= 0; j = batch.tree_parents.empty() ? j - 1 : batch.tree_parents[begin + j]) {
      path.push_back(first_new + j);
    }
    std::vector<int32_t> history;
    const auto read = [&](int p) -> bool {
      const int block = batch.block_tables[static_cast<size_t>(s) * batch.max_blocks_per_seq + p / block_size_];
      if (block < 0) return false;
      history.push_back(slots_[static_cast<size_t>(block) * block_size_ + p % block_size_]);
      return true;
    };
    for (int p = 0; p < first_new; ++p) {
      if (!read(p)) return Status::error("fake executor: position without a block");
    }
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      if (!read(*it)) return Status::error("fake executor: position without a block");
    }
    if (static_cast<int>(history.size()) != batch.positions[row] + 1) {
      return Status::error("fake executor: row " + std::to_string(row) + " has position " +
                           std::to_string(batch.positions[row]) + " but sees " + std::to_string(history.size()) + " tokens");
    }
    const std::vector<float> row_logits = logits_for(history);
    std::copy(row_logits.begin(), row_logits.end(), logits->begin() + r * vocab_size_);
  }
  return ok_status();
}

}  // namespace kiln
