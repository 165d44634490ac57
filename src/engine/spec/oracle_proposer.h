// The benchmark's draft (method "oracle", never served): it knows what the target generates after
// each prompt (recorded from a greedy run of the same engine) and drafts exactly that, so every
// draft is accepted and a step shows the most speculation can give. With acceptance_rate below
// 1, each drafted token is corrupted with probability 1 - rate (independently, deterministically
// from the seed), so the verify step runs at a chosen per-token acceptance rate, as a trained
// draft head would reach it. A sequence whose output left the recording drafts nothing.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "engine/spec/draft_proposer.h"

namespace kiln {

struct OracleRecording {
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;  // the target's greedy tokens after it
};

class OracleProposer : public DraftProposer {
 public:
  OracleProposer(std::vector<OracleRecording> recordings, double acceptance_rate, uint64_t seed = 0);
  void propose(const DraftContext& context, std::vector<int32_t>* drafts) override;

 private:
  std::map<std::vector<int32_t>, std::vector<int32_t>> outputs_;  // by prompt
  double acceptance_rate_;
  uint64_t seed_;
  uint64_t num_proposals_ = 0;
};

}  // namespace kiln
