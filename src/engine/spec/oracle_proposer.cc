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

void OracleProposer::propose(const DraftContext& context, DraftTree* tree) {
  tree->clear();
  const std::vector<int32_t>* recorded = recordings_->find(context.tokens.first(static_cast<size_t>(context.num_prompt_tokens)));
  if (recorded == nullptr) return;
  const auto output = context.tokens.subspan(static_cast<size_t>(context.num_prompt_tokens));
  if (output.size() >= recorded->size() || !std::equal(output.begin(), output.end(), recorded->begin())) return;
  const size_t begin = output.size();
  const size_t end = std::min(recorded->size(), begin + static_cast<size_t>(std::max(0, context.max_drafts)));
  const uint64_t proposal = num_proposals_++;
  std::vector<int32_t> drafts;
  for (size_t i = begin; i < end; ++i) {
    int32_t token = (*recorded)[i];
    const double u = sampling_draw_uniform(seed_ ^ sampling_splitmix64(proposal), i);
    if (u >= acceptance_rate_) token = token > 0 ? token - 1 : 1;  // any other id
    drafts.push_back(token);
  }
  if (context.max_branches <= 1) {
    *tree = DraftTree::chain(drafts);
    return;
  }
  // A tree: at each depth max_branches - 1 wrong siblings (the lowest other ids) come before the
  // (possibly corrupted) recorded token, whose node the next depth grows from. So the accepted
  // path runs through nodes that are not consecutive, as a tree method's does, and a step verifies
  // max_branches nodes per depth.
  int parent = -1;
  for (int32_t token : drafts) {
    for (int32_t other = 0, added = 0; added < context.max_branches - 1; ++other) {
      if (other == token) continue;
      if (tree->num_nodes() == context.max_drafts) return;
      tree->add(parent, other);
      ++added;
    }
    if (tree->num_nodes() == context.max_drafts) return;
    parent = tree->add(parent, token);
  }
}

}  // namespace kiln
