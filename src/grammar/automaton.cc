// Determinization (subset construction per rule, over byte intervals then merged byte classes)
// and the analyses the matcher and the token classifier rely on: live states, nullable rules,
// FIRST/FOLLOW byte sets and self-loops.
#include "grammar/automaton.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "grammar/nfa.h"

namespace kiln::grammar {
namespace {

struct VectorHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ULL;
    for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ULL;
    return static_cast<size_t>(h);
  }
};

}  // namespace

class AutomatonBuilder {
 public:
  AutomatonBuilder(const NfaSet& nfa, const AutomatonLimits& limits) : nfa_(nfa), limits_(limits) {}

  Result<Automaton> build(const Grammar& grammar) {
    make_intervals();
    // DFAs rarely outgrow their NFAs: reserve once rather than grow row by row.
    interval_next_.reserve(std::min<size_t>(nfa_.edges.size(), static_cast<size_t>(limits_.max_dfa_states)) * static_cast<size_t>(num_intervals_));
    single_rule_.assign(nfa_.edges.size(), -1);
    single_state_.assign(nfa_.edges.size(), -1);
    for (size_t r = 0; r < nfa_.rules.size(); ++r) {
      a_.rule_start_.push_back(static_cast<int32_t>(state_rule_.size()));
      a_.rule_names_.push_back(grammar.rule(nfa_.rules[r].source_rule).name);
      KILN_RETURN_IF_ERROR(determinize(static_cast<RuleId>(r)));
    }
    merge_classes();
    finish_tables();
    prune_dead_states();
    if (!live_[static_cast<size_t>(a_.rule_start_[0])]) {
      return Status::error("rule '" + a_.rule_names_[0] + "' matches no string");
    }
    compute_nullable();
    compute_follow();
    compute_runs();
    a_.rule_leaf_.assign(a_.rule_start_.size(), 1);
    for (int32_t st = 0; st < a_.num_states(); ++st) {
      if (!a_.refs(st).empty()) a_.rule_leaf_[static_cast<size_t>(state_rule_[static_cast<size_t>(st)])] = 0;
    }
    return std::move(a_);
  }

 private:
  // Byte intervals that no edge of the NFA splits: the first classes (merged later).
  void make_intervals() {
    std::vector<char> starts(257, 0);
    starts[0] = 1;
    for (const auto& edges : nfa_.edges) {
      for (const NfaEdge& e : edges) {
        if (e.kind != NfaEdge::kBytes) continue;
        starts[e.first] = 1;
        starts[static_cast<size_t>(e.last) + 1] = 1;
      }
    }
    int interval = -1;
    for (int b = 0; b < 256; ++b) {
      if (starts[static_cast<size_t>(b)]) ++interval;
      interval_of_byte_[b] = static_cast<uint8_t>(interval);
    }
    num_intervals_ = interval + 1;
  }

  void closure(std::vector<int32_t>* set) {
    std::vector<int32_t>& s = *set;
    ++stamp_;
    if (mark_.size() < nfa_.edges.size()) mark_.resize(nfa_.edges.size(), 0);
    for (int32_t x : s) mark_[static_cast<size_t>(x)] = stamp_;
    for (size_t i = 0; i < s.size(); ++i) {
      for (const NfaEdge& e : nfa_.edges[static_cast<size_t>(s[i])]) {
        if (e.kind == NfaEdge::kEpsilon && mark_[static_cast<size_t>(e.to)] != stamp_) {
          mark_[static_cast<size_t>(e.to)] = stamp_;
          s.push_back(e.to);
        }
      }
    }
    std::sort(s.begin(), s.end());
  }

  // Subset construction of one rule; its DFA states are appended to the global numbering.
  Status determinize(RuleId rule) {
    const RuleNfa& r = nfa_.rules[static_cast<size_t>(rule)];
    std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> by_closure;
    std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> by_kernel;
    std::vector<std::vector<int32_t>> members;
    auto state_for = [&](std::vector<int32_t> kernel) -> int32_t {
      std::sort(kernel.begin(), kernel.end());
      kernel.erase(std::unique(kernel.begin(), kernel.end()), kernel.end());
      // Most kernels are one NFA state (a literal's chain): an array instead of hashing.
      const bool single = kernel.size() == 1;
      if (single && single_rule_[static_cast<size_t>(kernel[0])] == rule) return single_state_[static_cast<size_t>(kernel[0])];
      if (!single) {
        if (auto it = by_kernel.find(kernel); it != by_kernel.end()) return it->second;
      }
      std::vector<int32_t> full = kernel;
      closure(&full);
      int32_t id;
      if (auto it = by_closure.find(full); it != by_closure.end()) {
        id = it->second;
      } else {
        id = static_cast<int32_t>(state_rule_.size());
        state_rule_.push_back(rule);
        interval_next_.resize(interval_next_.size() + static_cast<size_t>(num_intervals_), -1);
        state_refs_.emplace_back();
        accepting_.push_back(std::binary_search(full.begin(), full.end(), r.end) ? 1 : 0);
        by_closure.emplace(full, id);
        members.push_back(std::move(full));
      }
      if (single) {
        single_rule_[static_cast<size_t>(kernel[0])] = rule;
        single_state_[static_cast<size_t>(kernel[0])] = id;
      } else {
        by_kernel.emplace(std::move(kernel), id);
      }
      return id;
    };
    const int32_t first = static_cast<int32_t>(state_rule_.size());
    state_for({r.start});
    std::vector<std::vector<int32_t>> targets(static_cast<size_t>(num_intervals_));
    std::vector<int> touched;
    std::map<RuleId, std::vector<int32_t>> ref_targets;
    for (int32_t d = first; d < static_cast<int32_t>(state_rule_.size()); ++d) {
      if (static_cast<int64_t>(state_rule_.size()) > limits_.max_dfa_states) {
        return Status::error("the grammar is too large: more than " + std::to_string(limits_.max_dfa_states) +
                             " automaton states (rule '" + a_.rule_names_.back() + "')");
      }
      touched.clear();
      ref_targets.clear();
      for (int32_t n : members[static_cast<size_t>(d - first)]) {
        for (const NfaEdge& e : nfa_.edges[static_cast<size_t>(n)]) {
          if (e.kind == NfaEdge::kBytes) {
            for (int i = interval_of_byte_[e.first]; i <= interval_of_byte_[e.last]; ++i) {
              if (targets[static_cast<size_t>(i)].empty()) touched.push_back(i);
              targets[static_cast<size_t>(i)].push_back(e.to);
            }
          } else if (e.kind == NfaEdge::kRule) {
            ref_targets[e.rule].push_back(e.to);
          }
        }
      }
      // Neighbouring intervals usually lead to the same NFA states (a wide class spans many):
      // look each distinct target list up once.
      std::sort(touched.begin(), touched.end());
      int previous = -1;
      int32_t previous_state = -1;
      for (int i : touched) {
        std::vector<int32_t>& list = targets[static_cast<size_t>(i)];
        std::sort(list.begin(), list.end());
        list.erase(std::unique(list.begin(), list.end()), list.end());
        const bool same = previous >= 0 && list == targets[static_cast<size_t>(previous)];
        if (previous >= 0) targets[static_cast<size_t>(previous)].clear();
        const int32_t t = same ? previous_state : state_for(list);
        previous = i;
        previous_state = t;
        interval_next_[static_cast<size_t>(d) * static_cast<size_t>(num_intervals_) + static_cast<size_t>(i)] = t;
      }
      if (previous >= 0) targets[static_cast<size_t>(previous)].clear();
      for (auto& [ref_rule, to] : ref_targets) {
        const int32_t t = state_for(std::move(to));
        state_refs_[static_cast<size_t>(d)].push_back(RefEdge{ref_rule, t});
      }
    }
    return ok_status();
  }

  // Byte intervals whose columns are equal in every state become one class: columns are hashed
  // row by row (the table is state-major), and equal hashes are confirmed column against column.
  void merge_classes() {
    const size_t n = state_rule_.size();
    const size_t m = static_cast<size_t>(num_intervals_);
    std::vector<uint64_t> hash(m, 1469598103934665603ULL);
    for (size_t s = 0; s < n; ++s) {
      const int32_t* row = interval_next_.data() + s * m;
      for (size_t i = 0; i < m; ++i) hash[i] = (hash[i] ^ static_cast<uint32_t>(row[i])) * 1099511628211ULL;
    }
    auto same_column = [&](size_t x, size_t y) {
      for (size_t s = 0; s < n; ++s) {
        if (interval_next_[s * m + x] != interval_next_[s * m + y]) return false;
      }
      return true;
    };
    std::vector<int> interval_class(m, -1);
    std::unordered_map<uint64_t, std::vector<size_t>> by_hash;
    for (size_t i = 0; i < m; ++i) {
      std::vector<size_t>& candidates = by_hash[hash[i]];
      for (size_t j : candidates) {
        if (same_column(i, j)) {
          interval_class[i] = interval_class[j];
          break;
        }
      }
      if (interval_class[i] < 0) {
        interval_class[i] = static_cast<int>(representative_.size());
        representative_.push_back(static_cast<int>(i));
        candidates.push_back(i);
      }
    }
    a_.num_classes_ = static_cast<int>(representative_.size());
    for (int b = 0; b < 256; ++b) a_.byte_class_[b] = static_cast<uint8_t>(interval_class[interval_of_byte_[b]]);
    a_.next_.resize(n * static_cast<size_t>(a_.num_classes_));
    for (size_t s = 0; s < n; ++s) {
      for (int c = 0; c < a_.num_classes_; ++c) {
        a_.next_[s * static_cast<size_t>(a_.num_classes_) + static_cast<size_t>(c)] =
            interval_next_[s * m + static_cast<size_t>(representative_[static_cast<size_t>(c)])];
      }
    }
    interval_next_.clear();
    interval_next_.shrink_to_fit();
  }

  void finish_tables() {
    a_.accepting_ = accepting_;
    a_.rule_of_ = state_rule_;
    a_.rule_nullable_.assign(a_.rule_start_.size(), 0);
    a_.follow_.assign(a_.rule_start_.size(), ByteSet());
  }

  // Live: an accepting end is reachable through bytes and references to productive rules.
  // Edges into states that are not live are removed. A worklist over reverse edges: a state
  // becomes live when a byte target is live, or a reference's target and rule start both are.
  void prune_dead_states() {
    const size_t n = state_rule_.size();
    const size_t classes = static_cast<size_t>(a_.num_classes_);
    // Predecessors in compressed rows: byte edges (one per distinct target), reference edges by
    // their target, and by the referenced rule's start.
    std::vector<int32_t> pred_begin(n + 1, 0), preds;
    auto for_each_pred_edge = [&](auto&& emit) {
      for (size_t s = 0; s < n; ++s) {
        int32_t last = -1;
        for (size_t c = 0; c < classes; ++c) {
          const int32_t t = a_.next_[s * classes + c];
          if (t >= 0 && t != last) {
            emit(t, static_cast<int32_t>(s));
            last = t;
          }
        }
        for (const RefEdge& e : state_refs_[s]) {
          emit(e.target, static_cast<int32_t>(s));
          emit(a_.rule_start_[static_cast<size_t>(e.rule)], static_cast<int32_t>(s));
        }
      }
    };
    for_each_pred_edge([&](int32_t t, int32_t) { ++pred_begin[static_cast<size_t>(t) + 1]; });
    for (size_t s = 0; s < n; ++s) pred_begin[s + 1] += pred_begin[s];
    preds.resize(static_cast<size_t>(pred_begin[n]));
    std::vector<int32_t> fill(pred_begin.begin(), pred_begin.end() - 1);
    for_each_pred_edge([&](int32_t t, int32_t p) { preds[static_cast<size_t>(fill[static_cast<size_t>(t)]++)] = p; });
    live_.assign(n, 0);
    std::vector<int32_t> work;
    auto mark = [&](int32_t s) {
      if (!live_[static_cast<size_t>(s)]) {
        live_[static_cast<size_t>(s)] = 1;
        work.push_back(s);
      }
    };
    auto ref_live = [&](int32_t s) {
      for (const RefEdge& e : state_refs_[static_cast<size_t>(s)]) {
        if (live_[static_cast<size_t>(e.target)] && live_[static_cast<size_t>(a_.rule_start_[static_cast<size_t>(e.rule)])]) return true;
      }
      return false;
    };
    for (size_t s = 0; s < n; ++s) {
      if (accepting_[s]) mark(static_cast<int32_t>(s));
    }
    // A byte predecessor of a live state is live; a predecessor through a reference is live
    // when some reference of it has both its target and its rule's start live.
    auto has_live_byte_edge_to = [&](int32_t p, int32_t t) {
      for (size_t c = 0; c < classes; ++c) {
        if (a_.next_[static_cast<size_t>(p) * classes + c] == t) return true;
      }
      return false;
    };
    while (!work.empty()) {
      const int32_t t = work.back();
      work.pop_back();
      for (int32_t k = pred_begin[static_cast<size_t>(t)]; k < pred_begin[static_cast<size_t>(t) + 1]; ++k) {
        const int32_t p = preds[static_cast<size_t>(k)];
        if (live_[static_cast<size_t>(p)]) continue;
        if (ref_live(p) || has_live_byte_edge_to(p, t)) mark(p);
      }
    }
    std::vector<ByteSet> class_bytes(classes);
    for (int b = 0; b < 256; ++b) class_bytes[a_.byte_class_[b]].set(static_cast<uint8_t>(b));
    a_.ref_begin_.assign(n + 1, 0);
    a_.has_bytes_.assign(n, 0);
    a_.byte_edges_.assign(n, ByteSet());
    for (size_t s = 0; s < n; ++s) {
      for (size_t c = 0; c < classes; ++c) {
        int32_t& t = a_.next_[s * classes + c];
        if (t >= 0 && !live_[static_cast<size_t>(t)]) t = -1;
        if (t < 0) continue;
        a_.has_bytes_[s] = 1;
        a_.byte_edges_[s] |= class_bytes[c];
      }
      a_.ref_begin_[s] = static_cast<int32_t>(a_.refs_.size());
      for (const RefEdge& e : state_refs_[s]) {
        if (live_[static_cast<size_t>(a_.rule_start_[static_cast<size_t>(e.rule)])] && live_[static_cast<size_t>(e.target)]) {
          a_.refs_.push_back(e);
        }
      }
    }
    a_.ref_begin_[n] = static_cast<int32_t>(a_.refs_.size());
    state_refs_.clear();
  }

  // run_bytes(q): the largest byte class that leads from q to one state t; run_length(q): 1 +
  // run_length(t) when t's run bytes include q's (then any string over q's bytes that fits t's
  // run fits q's), unbounded on a loop, else 1.
  void compute_runs() {
    const size_t n = state_rule_.size();
    const size_t classes = static_cast<size_t>(a_.num_classes_);
    std::vector<ByteSet> class_bytes(classes);
    std::vector<int> class_size(classes, 0);
    for (int b = 0; b < 256; ++b) {
      class_bytes[a_.byte_class_[b]].set(static_cast<uint8_t>(b));
      ++class_size[a_.byte_class_[b]];
    }
    a_.run_bytes_.assign(n, ByteSet());
    a_.run_length_.assign(n, 0);
    std::vector<int32_t> run_target(n, -1);
    std::vector<int> size_to(n, 0);
    for (size_t s = 0; s < n; ++s) {
      // The target that the most bytes lead to.
      std::vector<std::pair<int32_t, int>> counts;
      for (size_t c = 0; c < classes; ++c) {
        const int32_t t = a_.next_[s * classes + c];
        if (t < 0) continue;
        auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& p) { return p.first == t; });
        if (it == counts.end()) counts.push_back({t, class_size[c]});
        else it->second += class_size[c];
      }
      if (counts.empty()) continue;
      const auto best = std::max_element(counts.begin(), counts.end(), [](const auto& x, const auto& y) { return x.second < y.second; });
      run_target[s] = best->first;
      for (size_t c = 0; c < classes; ++c) {
        if (a_.next_[s * classes + c] == best->first) a_.run_bytes_[s] |= class_bytes[c];
      }
    }
    // Lengths along the chains, iteratively: 0 = not yet known; a state met again while its
    // chain is open closes a loop (each step checked the inclusion), so the run is unbounded.
    std::vector<uint8_t> open(n, 0);
    for (size_t s0 = 0; s0 < n; ++s0) {
      if (a_.run_length_[s0] != 0 || run_target[s0] < 0) continue;
      std::vector<size_t> chain;
      size_t s = s0;
      int32_t tail = 0;  // the run length after the chain's last state
      for (;;) {
        chain.push_back(s);
        open[s] = 1;
        const int32_t t = run_target[s];
        if (t < 0 || !a_.run_bytes_[s].subset_of(a_.run_bytes_[static_cast<size_t>(t)])) {
          tail = 0;
          break;
        }
        if (open[static_cast<size_t>(t)]) {
          tail = Automaton::kUnboundedRun;
          break;
        }
        if (a_.run_length_[static_cast<size_t>(t)] != 0) {
          tail = a_.run_length_[static_cast<size_t>(t)];
          break;
        }
        s = static_cast<size_t>(t);
      }
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        tail = tail == Automaton::kUnboundedRun ? tail : tail + 1;
        a_.run_length_[*it] = tail;
        open[*it] = 0;
      }
    }
  }

  // A rule is nullable when its start reaches an accepting state through nullable rules only.
  void compute_nullable() {
    const size_t n = state_rule_.size();
    state_nullable_.assign(n, 0);
    for (size_t s = 0; s < n; ++s) state_nullable_[s] = accepting_[s];
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t s = 0; s < n; ++s) {
        if (state_nullable_[s]) continue;
        for (const RefEdge& e : a_.refs(static_cast<int32_t>(s))) {
          if (state_nullable_[static_cast<size_t>(a_.rule_start_[static_cast<size_t>(e.rule)])] &&
              state_nullable_[static_cast<size_t>(e.target)]) {
            state_nullable_[s] = 1;
            changed = true;
            break;
          }
        }
      }
    }
    for (size_t r = 0; r < a_.rule_start_.size(); ++r) {
      a_.rule_nullable_[r] = state_nullable_[static_cast<size_t>(a_.rule_start_[r])];
    }
  }

  // FIRST(state): bytes that can come next from it within its rule (entering referenced rules);
  // FOLLOW(rule): bytes that can come right after the rule ends, in any context.
  void compute_follow() {
    const size_t n = state_rule_.size();
    std::vector<ByteSet> first(n);
    for (size_t s = 0; s < n; ++s) first[s] = a_.byte_edges_[s];
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t s = 0; s < n; ++s) {
        ByteSet f = first[s];
        for (const RefEdge& e : a_.refs(static_cast<int32_t>(s))) {
          f |= first[static_cast<size_t>(a_.rule_start_[static_cast<size_t>(e.rule)])];
          if (a_.rule_nullable_[static_cast<size_t>(e.rule)]) f |= first[static_cast<size_t>(e.target)];
        }
        if (f != first[s]) {
          first[s] = f;
          changed = true;
        }
      }
    }
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t s = 0; s < n; ++s) {
        for (const RefEdge& e : a_.refs(static_cast<int32_t>(s))) {
          ByteSet f = a_.follow_[static_cast<size_t>(e.rule)] | first[static_cast<size_t>(e.target)];
          if (state_nullable_[static_cast<size_t>(e.target)]) f |= a_.follow_[static_cast<size_t>(state_rule_[s])];
          if (f != a_.follow_[static_cast<size_t>(e.rule)]) {
            a_.follow_[static_cast<size_t>(e.rule)] = f;
            changed = true;
          }
        }
      }
    }
  }

  const NfaSet& nfa_;
  const AutomatonLimits& limits_;
  Automaton a_;
  uint8_t interval_of_byte_[256] = {};
  int num_intervals_ = 0;
  std::vector<int> representative_;        // [num_classes] an interval of each class
  std::vector<int32_t> interval_next_;     // [num_states * num_intervals] before merging
  std::vector<RuleId> state_rule_;
  std::vector<uint8_t> accepting_;
  std::vector<std::vector<RefEdge>> state_refs_;
  std::vector<uint8_t> live_;
  std::vector<uint8_t> state_nullable_;
  std::vector<uint32_t> mark_;
  std::vector<RuleId> single_rule_;    // [nfa states] the rule whose DFA has a state for {n}
  std::vector<int32_t> single_state_;  // [nfa states] that DFA state
  uint32_t stamp_ = 0;
};

Result<Automaton> Automaton::build(const Grammar& grammar, const AutomatonLimits& limits) {
  KILN_ASSIGN_OR_RETURN(NfaSet nfa, build_nfas(grammar, limits));
  return AutomatonBuilder(nfa, limits).build(grammar);
}

}  // namespace kiln::grammar
