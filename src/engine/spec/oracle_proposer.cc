#include "engine/spec/oracle_proposer.h"

#include <algorithm>

#include "kernels/sampling.h"

namespace kiln {
namespace {

std::shared_ptr<const OracleRecordings> collect(const std::vector<OracleRecording>& recordings) {
  auto all = std::make_shared<OracleRecordings>();
  for (const OracleRecording& r : recordings) all->record(r.prompt, r.output);
  return all;
}

}  // namespace

const std::vector<int32_t>* OracleRecordings::find(std::span<const int32_t> prompt) const {
  const auto it = outputs_.find(std::vector<int32_t>(prompt.begin(), prompt.end()));
  return it == outputs_.end() ? nullptr : &it->second;
}

OracleProposer::OracleProposer(std::shared_ptr<const OracleRecordings> recordings, double acceptance_rate, uint64_t seed)
    : recordings_(std::move(recordings)), acceptance_rate_(acceptance_rate), seed_(seed) {}

OracleProposer::OracleProposer(const std::vector<OracleRecording>& recordings, double acceptance_rate, uint64_t seed)
    : OracleProposer(collect(recordings), acceptance_rate, seed) {}

void OracleProposer::propose(const DraftContext& context, std::vector<int32_t>* drafts) {
  drafts->clear();
  const std::vector<int32_t>* recorded = recordings_->find(context.tokens.first(static_cast<size_t>(context.num_prompt_tokens)));
  if (recorded == nullptr) return;
  const auto output = context.tokens.subspan(static_cast<size_t>(context.num_prompt_tokens));
  if (output.size() >= recorded->size() || !std::equal(output.begin(), output.end(), recorded->begin())) return;
  const size_t begin = output.size();
  const size_t end = std::min(recorded->size(), begin + static_cast<size_t>(std::max(0, context.max_drafts)));
  const uint64_t proposal = num_proposals_++;
  for (size_t i = begin; i < end; ++i) {
    int32_t token = (*recorded)[i];
    const double u = sampling_draw_uniform(seed_ ^ sampling_splitmix64(proposal), i);
    if (u >= acceptance_rate_) token = token > 0 ? token - 1 : 1;  // any other id
    drafts->push_back(token);
  }
}

}  // namespace kiln
