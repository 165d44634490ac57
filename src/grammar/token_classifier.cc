#include "grammar/token_classifier.h"

#include <algorithm>
#include <functional>

namespace kiln::grammar {
namespace {

constexpr size_t kMaxListedTokens = 2048;

}  // namespace

TokenSet TokenSet::from_ids(std::vector<int32_t> ids, int vocab_size) {
  TokenSet set;
  set.count_ = static_cast<int64_t>(ids.size());
  if (ids.size() <= kMaxListedTokens) {
    std::sort(ids.begin(), ids.end());
    set.ids_ = std::move(ids);
  } else {
    set.bits_.assign(static_cast<size_t>((vocab_size + 31) / 32), 0);
    for (int32_t id : ids) set.bits_[static_cast<size_t>(id) / 32] |= 1u << (id % 32);
  }
  return set;
}

void TokenSet::or_into(uint32_t* words) const {
  if (!bits_.empty()) {
    for (size_t i = 0; i < bits_.size(); ++i) words[i] |= bits_[i];
    return;
  }
  for (int32_t id : ids_) words[id / 32] |= 1u << (id % 32);
}

bool TokenSet::contains(int32_t id) const {
  if (!bits_.empty()) return (bits_[static_cast<size_t>(id) / 32] >> (id % 32)) & 1;
  return std::binary_search(ids_.begin(), ids_.end(), id);
}

void walk_strings(EarleyRunner& runner, std::span<const std::string_view> strings, const ByteSet& follow,
                  bool exit_at_start, const std::function<void(size_t, TokenWalk)>& on_result) {
  const int base = runner.num_sets() - 1;
  std::vector<uint8_t> exit_before(1, 0);
  std::string_view previous;
  bool has_previous = false;
  int matched = 0;    // bytes of `previous` consumed in the runner
  int dead_at = -1;   // the byte of `previous` that nothing survived, -1 if it went through
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string_view t = strings[i];
    const int size = static_cast<int>(t.size());
    if (exit_before.size() < t.size() + 1) exit_before.resize(t.size() + 1, 0);
    int lcp = 0;
    if (has_previous) {
      const int limit = std::min(size, static_cast<int>(previous.size()));
      while (lcp < limit && t[static_cast<size_t>(lcp)] == previous[static_cast<size_t>(lcp)]) ++lcp;
    }
    previous = t;
    has_previous = true;
    if (dead_at >= 0 && lcp > dead_at) {  // same dead prefix as the previous string
      on_result(i, exit_before[static_cast<size_t>(dead_at) + 1] ? TokenWalk::kExit : TokenWalk::kRejected);
      continue;
    }
    if (matched > lcp) {
      runner.pop(matched - lcp);
      matched = lcp;
    }
    dead_at = -1;
    for (int k = matched; k < size; ++k) {
      const uint8_t b = static_cast<uint8_t>(t[static_cast<size_t>(k)]);
      const bool exit_here = (k > 0 || exit_at_start) && runner.frame_exit(base + k) && follow.test(b);
      exit_before[static_cast<size_t>(k) + 1] = exit_before[static_cast<size_t>(k)] || exit_here;
      if (!runner.advance(b)) {
        dead_at = k;
        break;
      }
      matched = k + 1;
    }
    if (dead_at < 0) on_result(i, TokenWalk::kAccepted);
    else on_result(i, exit_before[static_cast<size_t>(dead_at) + 1] ? TokenWalk::kExit : TokenWalk::kRejected);
  }
  runner.pop(matched);
}

void walk_tokens(EarleyRunner& runner, const Vocabulary& vocab, std::span<const int32_t> tokens,
                 const ByteSet& follow, bool exit_at_start,
                 const std::function<void(size_t, TokenWalk)>& on_result) {
  std::vector<std::string_view> strings;
  strings.reserve(tokens.size());
  for (int32_t id : tokens) strings.emplace_back(vocab.bytes(id));
  walk_strings(runner, strings, follow, exit_at_start, on_result);
}

StateTokens TokenClassifier::classify(int32_t state) {
  // A leaf rule's classes ignore where it is used (any byte may follow its end), so that they are
  // the same in every grammar (token_class_cache.h); its callers narrow the uncertain ones.
  const RuleId rule = a_.rule_of(state);
  const ByteSet follow = a_.rule_is_leaf(rule) ? ByteSet::all() : a_.follow(rule);
  const std::vector<TrieNode>& trie = vocab_.trie();
  const std::vector<int32_t>& sorted = vocab_.sorted_ids();
  std::vector<int32_t> accepted;
  StateTokens out;
  out.exit_begin.push_back(0);
  std::vector<uint16_t> exit_depths;
  // Depths where the rule may end on the current path (each < the node's depth), and how many
  // of them lie above each depth.
  std::vector<uint16_t> path_exits;
  std::vector<int32_t> exits_above(static_cast<size_t>(vocab_.max_token_bytes()) + 2, 0);
  runner_.reset(state);
  auto append = [&](std::vector<int32_t>* out, int32_t begin, int32_t end) {
    out->insert(out->end(), sorted.begin() + begin, sorted.begin() + end);
  };
  const int32_t num_nodes = static_cast<int32_t>(trie.size());
  for (int32_t n = 1; n < num_nodes;) {
    const TrieNode& node = trie[static_cast<size_t>(n)];
    const int depth = node.depth;
    runner_.pop(runner_.num_sets() - depth);  // back to the set after depth - 1 bytes
    const std::span<const EarleyItem> items = runner_.last_set();
    // A state whose run covers every byte and the depth of this subtree accepts all of it
    // without walking.
    bool loops = false;
    for (const EarleyItem& item : items) {
      const ByteSet& run = a_.run_bytes(item.state);
      if (run.test(node.byte) && node.height < a_.run_length(item.state) && vocab_.subtree_bytes_within(n, run)) {
        loops = true;
        break;
      }
    }
    if (loops) {
      append(&accepted, node.token_begin, node.token_end);
      n = node.end;
      continue;
    }
    path_exits.resize(static_cast<size_t>(exits_above[static_cast<size_t>(depth) - 1]));
    if (depth > 1 && runner_.frame_exit(depth - 1) && follow.test(node.byte)) {
      path_exits.push_back(static_cast<uint16_t>(depth - 1));
    }
    exits_above[static_cast<size_t>(depth)] = static_cast<int32_t>(path_exits.size());
    if (!runner_.advance(node.byte)) {
      if (!path_exits.empty()) {
        for (int32_t k = node.token_begin; k < node.token_end; ++k) {
          out.uncertain.push_back(sorted[static_cast<size_t>(k)]);
          exit_depths.insert(exit_depths.end(), path_exits.begin(), path_exits.end());
          out.exit_begin.push_back(static_cast<int32_t>(exit_depths.size()));
        }
      }
      n = node.end;
      continue;
    }
    append(&accepted, node.token_begin, node.here_end);
    ++n;
  }
  out.accepted = TokenSet::from_ids(std::move(accepted), vocab_.size());
  // The distinct rests after the exits, in byte order.
  auto rest_bytes = [&](const TokenRest& r) { return std::string_view(vocab_.bytes(r.token)).substr(r.offset); };
  std::vector<TokenRest> all;
  all.reserve(exit_depths.size());
  for (size_t i = 0; i < out.uncertain.size(); ++i) {
    for (int32_t k = out.exit_begin[i]; k < out.exit_begin[i + 1]; ++k) all.push_back({out.uncertain[i], exit_depths[static_cast<size_t>(k)]});
  }
  std::vector<TokenRest> by_bytes = all;
  std::sort(by_bytes.begin(), by_bytes.end(), [&](const TokenRest& x, const TokenRest& y) { return rest_bytes(x) < rest_bytes(y); });
  for (const TokenRest& r : by_bytes) {
    if (out.rests.empty() || rest_bytes(out.rests.back()) != rest_bytes(r)) out.rests.push_back(r);
  }
  out.exit_rests.reserve(all.size());
  for (const TokenRest& r : all) {
    const auto it = std::lower_bound(out.rests.begin(), out.rests.end(), r,
                                     [&](const TokenRest& x, const TokenRest& y) { return rest_bytes(x) < rest_bytes(y); });
    out.exit_rests.push_back(static_cast<int32_t>(it - out.rests.begin()));
  }
  return out;
}

CallerTokens TokenClassifier::refine(int32_t state, int32_t caller_state, const StateTokens& base) {
  CallerTokens out;
  const int32_t resume = a_.ref_target(caller_state, a_.rule_of(state));
  if (resume < 0 || base.uncertain.empty()) return out;
  // Each distinct rest is walked once from the caller's target.
  std::vector<std::string_view> rests;
  rests.reserve(base.rests.size());
  for (const TokenRest& r : base.rests) rests.push_back(std::string_view(vocab_.bytes(r.token)).substr(r.offset));
  std::vector<TokenWalk> outcome(rests.size(), TokenWalk::kRejected);
  runner_.reset(resume);
  walk_strings(runner_, rests, a_.follow(a_.rule_of(caller_state)), true,
               [&](size_t i, TokenWalk result) { outcome[i] = result; });
  for (size_t i = 0; i < base.uncertain.size(); ++i) {
    TokenWalk best = TokenWalk::kRejected;
    for (int32_t k = base.exit_begin[i]; k < base.exit_begin[i + 1] && best != TokenWalk::kAccepted; ++k) {
      const TokenWalk r = outcome[static_cast<size_t>(base.exit_rests[static_cast<size_t>(k)])];
      if (r == TokenWalk::kAccepted || (r == TokenWalk::kExit && best == TokenWalk::kRejected)) best = r;
    }
    if (best == TokenWalk::kAccepted) out.accepted.push_back(base.uncertain[i]);
    else if (best == TokenWalk::kExit) out.uncertain.push_back(base.uncertain[i]);
  }
  return out;
}

}  // namespace kiln::grammar
