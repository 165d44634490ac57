#include "fake_model_executor.h"

#include <algorithm>
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
  for (int i = 0; i < batch.num_tokens(); ++i) {
    const int64_t slot = batch.slot_mapping[i];
    if (slot < 0 || slot >= static_cast<int64_t>(slots_.size())) {
      return Status::error("fake executor: slot " + std::to_string(slot) + " out of range");
    }
    slots_[slot] = batch.token_ids[i];
  }
  logits->assign(batch.logits_indices.size() * static_cast<size_t>(vocab_size_), 0.0f);
  // Sequence of each token row, to read its history through its block table.
  for (size_t r = 0; r < batch.logits_indices.size(); ++r) {
    const int row = batch.logits_indices[r];
    int s = 0;
    while (batch.query_start[s + 1] <= row) ++s;
    const int pos = batch.positions[row];
    std::vector<int32_t> history;
    for (int p = 0; p <= pos; ++p) {
      const int block = batch.block_tables[static_cast<size_t>(s) * batch.max_blocks_per_seq +
                                           p / block_size_];
      if (block < 0) return Status::error("fake executor: position without a block");
      history.push_back(slots_[static_cast<size_t>(block) * block_size_ + p % block_size_]);
    }
    const std::vector<float> row_logits = logits_for(history);
    std::copy(row_logits.begin(), row_logits.end(), logits->begin() + r * vocab_size_);
  }
  return ok_status();
}

}  // namespace kiln
