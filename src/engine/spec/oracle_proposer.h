// The benchmark's draft (method "oracle", never served): it knows what the target generates after
// each prompt (recorded from a greedy run of the same engine) and drafts exactly that, so every
// draft is accepted and a step shows the most speculation can give. With acceptance_rate below
// 1, each drafted token is corrupted with probability 1 - rate (independently, deterministically
// from the seed), so the verify step runs at a chosen per-token acceptance rate, as a trained
// draft head would reach it. A sequence whose output left the recording drafts nothing. With draft
// trees (draft_tree_topk k > 1), each depth has k - 1 wrong siblings before the drafted token.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "engine/spec/draft_proposer.h"

namespace kiln {

struct OracleRecording {
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;  // the target's greedy tokens after it
};

// Outputs by prompt. The benchmark records between runs, while the engine is idle.
class OracleRecordings {
 public:
  void record(std::vector<int32_t> prompt, std::vector<int32_t> output) { outputs_[std::move(prompt)] = std::move(output); }
  const std::vector<int32_t>* find(std::span<const int32_t> prompt) const;

 private:
  std::map<std::vector<int32_t>, std::vector<int32_t>> outputs_;
};

class OracleProposer : public DraftProposer {
 public:
  OracleProposer(std::shared_ptr<const OracleRecordings> recordings, double acceptance_rate, uint64_t seed = 0);
  OracleProposer(const std::vector<OracleRecording>& recordings, double acceptance_rate, uint64_t seed = 0);
  void propose(const DraftContext& context, DraftTree* drafts) override;

 private:
  std::shared_ptr<const OracleRecordings> recordings_;
  double acceptance_rate_;
  uint64_t seed_;
  uint64_t num_proposals_ = 0;
};

}  // namespace kiln
