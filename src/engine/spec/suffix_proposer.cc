#include "engine/spec/suffix_proposer.h"

#include <algorithm>
#include <cmath>

namespace kiln {
namespace {

// Occurrences of the last pair looked at per draft: the most recent ones.
constexpr size_t kMaxCandidates = 256;

uint64_t pair_key(int32_t first, int32_t second) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(first)) << 32) | static_cast<uint32_t>(second);
}

}  // namespace

void SuffixCorpus::append(int64_t doc, std::span<const int32_t> tokens) {
  std::vector<int32_t>& text = docs_[doc];
  for (int32_t token : tokens) {
    text.push_back(token);
    const int32_t end = static_cast<int32_t>(text.size()) - 1;
    if (end < 1) continue;
    pairs_[pair_key(text[static_cast<size_t>(end - 1)], token)].push_back({doc, end});
    ++num_live_entries_;
  }
}

void SuffixCorpus::remove(int64_t doc) {
  auto it = docs_.find(doc);
  if (it == docs_.end()) return;
  const size_t entries = it->second.size() > 1 ? it->second.size() - 1 : 0;
  num_live_entries_ -= entries;
  num_dead_entries_ += entries;
  docs_.erase(it);
  if (num_dead_entries_ > num_live_entries_ + 4096) compact();
}

int SuffixCorpus::num_tokens(int64_t doc) const {
  auto it = docs_.find(doc);
  return it == docs_.end() ? 0 : static_cast<int>(it->second.size());
}

void SuffixCorpus::compact() {
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    std::erase_if(it->second, [&](const Occurrence& o) { return docs_.count(o.doc) == 0; });
    it = it->second.empty() ? pairs_.erase(it) : std::next(it);
  }
  num_dead_entries_ = 0;
}

SuffixDraft SuffixCorpus::draft(std::span<const int32_t> context, int max_drafts, const SuffixDecodingParams& params,
                                int64_t exclude_doc, int exclude_end, int max_branches) const {
  SuffixDraft best;
  const int length = static_cast<int>(context.size());
  if (length < 2 || max_drafts <= 0) return best;
  const auto found = pairs_.find(pair_key(context[static_cast<size_t>(length - 2)], context[static_cast<size_t>(length - 1)]));
  if (found == pairs_.end()) return best;
  // The most recent occurrences and how far back each matches the context (at most depth - 1,
  // leaving the draft at least one token of the depth).
  struct Candidate {
    const std::vector<int32_t>* text;
    int end;
    int match;
  };
  std::vector<Candidate> candidates;
  const int max_match = std::min(params.max_tree_depth - 1, length);
  const std::vector<Occurrence>& occurrences = found->second;
  for (auto it = occurrences.rbegin(); it != occurrences.rend() && candidates.size() < kMaxCandidates; ++it) {
    if (it->doc == exclude_doc && it->end == exclude_end) continue;
    const auto doc = docs_.find(it->doc);
    if (doc == docs_.end()) continue;
    const std::vector<int32_t>& text = doc->second;
    int match = 2;
    while (match < max_match && it->end - match >= 0 &&
           text[static_cast<size_t>(it->end - match)] == context[static_cast<size_t>(length - 1 - match)]) {
      ++match;
    }
    candidates.push_back({&text, it->end, match});
  }
  int longest = 0;
  for (const Candidate& c : candidates) longest = std::max(longest, c.match);
  // The deepest match that drafts anything (a match whose occurrences all end their text drafts
  // nothing; a shorter one may).
  for (int match = longest; match >= 2; --match) {
    const int max_spec = std::min({max_drafts, static_cast<int>(std::floor(params.max_spec_factor * match)),
                                   params.max_tree_depth - match});
    if (max_spec <= 0) continue;
    // Occurrences of the match, most recent first, and where each continues.
    std::vector<std::pair<const std::vector<int32_t>*, int>> survivors;
    for (const Candidate& c : candidates) {
      if (c.match >= match) survivors.emplace_back(c.text, c.end + 1);
    }
    // Best first, as a suffix tree's speculation: a node's probability is its parent's times its
    // token's share of the parent's continuations; the likeliest open node is taken next while it
    // stays at least min_token_prob, its children being its max_branches most frequent next
    // tokens (ties: the most recent). With one branch this is the chain of the most frequent
    // continuation.
    struct Open {
      double probability;
      int parent, depth;
      std::vector<std::pair<const std::vector<int32_t>*, int>> survivors;  // positions of its token
      int32_t token;
    };
    std::vector<Open> open;
    const auto add_children = [&](const std::vector<std::pair<const std::vector<int32_t>*, int>>& from, double probability,
                                  int parent, int depth) {
      if (depth >= max_spec) return;
      // The next tokens and their counts; occurrences at their text's end count in the total, as
      // a suffix tree node counts them.
      std::vector<std::pair<int32_t, int>> counts;
      for (const auto& [text, next] : from) {
        if (next >= static_cast<int>(text->size())) continue;
        const int32_t token = (*text)[static_cast<size_t>(next)];
        auto slot = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == token; });
        if (slot == counts.end()) counts.emplace_back(token, 1);
        else ++slot->second;
      }
      std::stable_sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      if (static_cast<int>(counts.size()) > max_branches) counts.resize(static_cast<size_t>(max_branches));
      for (const auto& [token, count] : counts) {
        Open child{probability * static_cast<double>(count) / static_cast<double>(from.size()), parent, depth + 1, {}, token};
        for (const auto& [text, next] : from) {
          if (next < static_cast<int>(text->size()) && (*text)[static_cast<size_t>(next)] == token) child.survivors.emplace_back(text, next + 1);
        }
        open.push_back(std::move(child));
      }
    };
    SuffixDraft draft;
    add_children(survivors, 1.0, -1, 0);
    while (static_cast<int>(draft.tokens.size()) < max_drafts && !open.empty()) {
      auto next = std::max_element(open.begin(), open.end(),
                                   [](const Open& a, const Open& b) { return a.probability < b.probability; });
      if (next->probability < params.min_token_prob) break;
      Open node = std::move(*next);
      open.erase(next);
      draft.tokens.push_back(node.token);
      draft.parents.push_back(node.parent);
      draft.score += node.probability;
      add_children(node.survivors, node.probability, static_cast<int>(draft.tokens.size()) - 1, node.depth);
    }
    if (!draft.tokens.empty()) return draft;
  }
  return best;
}

void SuffixProposer::propose(const DraftContext& context, DraftTree* drafts) {
  drafts->clear();
  std::unique_ptr<SuffixCorpus>& own = sequences_[context.seq_id];
  if (!own) own = std::make_unique<SuffixCorpus>();
  const int indexed = own->num_tokens(context.seq_id);
  if (indexed < static_cast<int>(context.tokens.size())) own->append(context.seq_id, context.tokens.subspan(static_cast<size_t>(indexed)));
  const int last = static_cast<int>(context.tokens.size()) - 1;
  SuffixDraft best = own->draft(context.tokens, context.max_drafts, params_, context.seq_id, last, context.max_branches);
  if (params_.max_cached_requests > 0) {
    SuffixDraft global = finished_.draft(context.tokens, context.max_drafts, params_, -1, -1, context.max_branches);
    if (global.score > best.score) best = std::move(global);
  }
  drafts->tokens = std::move(best.tokens);
  drafts->parents = std::move(best.parents);
}

void SuffixProposer::on_finished(const DraftContext& context, bool completed) {
  sequences_.erase(context.seq_id);
  if (!completed || params_.max_cached_requests <= 0) return;
  auto output = context.tokens.subspan(static_cast<size_t>(std::min<int>(context.num_prompt_tokens, static_cast<int>(context.tokens.size()))));
  // A token a step in flight was still computing when the sequence ended is not text.
  const auto known_end = std::find_if(output.begin(), output.end(), [](int32_t t) { return t < 0; });
  output = output.first(static_cast<size_t>(known_end - output.begin()));
  if (output.size() < 2) return;
  const int64_t id = next_finished_++;
  finished_.append(id, output);
  finished_order_.push_back(id);
  while (static_cast<int>(finished_order_.size()) > params_.max_cached_requests) {
    finished_.remove(finished_order_.front());
    finished_order_.pop_front();
  }
}

}  // namespace kiln
