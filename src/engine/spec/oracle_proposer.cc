#include "engine/spec/oracle_proposer.h"

#include <algorithm>

#include "kernels/sampling.h"

namespace kiln {

OracleProposer::OracleProposer(std::vector<OracleRecording> recordings, double acceptance_rate, uint64_t seed)
    : acceptance_rate_(acceptance_rate), seed_(seed) {
  for (OracleRecording& r : recordings) outputs_[std::move(r.prompt)] = std::move(r.output);
}

void OracleProposer::propose(const DraftContext& context, std::vector<int32_t>* drafts) {
  drafts->clear();
  const auto prompt = context.tokens.first(static_cast<size_t>(context.num_prompt_tokens));
  const auto it = outputs_.find(std::vector<int32_t>(prompt.begin(), prompt.end()));
  if (it == outputs_.end()) return;
  const std::vector<int32_t>& recorded = it->second;
  const auto output = context.tokens.subspan(static_cast<size_t>(context.num_prompt_tokens));
  if (output.size() >= recorded.size() || !std::equal(output.begin(), output.end(), recorded.begin())) return;
  const size_t begin = output.size();
  const size_t end = std::min(recorded.size(), begin + static_cast<size_t>(std::max(0, context.max_drafts)));
  const uint64_t proposal = num_proposals_++;
  for (size_t i = begin; i < end; ++i) {
    int32_t token = recorded[i];
    const double u = sampling_draw_uniform(seed_ ^ sampling_splitmix64(proposal), i);
    if (u >= acceptance_rate_) token = token > 0 ? token - 1 : 1;  // any other id
    drafts->push_back(token);
  }
}

}  // namespace kiln
