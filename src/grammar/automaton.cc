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

  // Byte intervals whose columns are equal in every state become one class.
  void merge_classes() {
    const size_t n = state_rule_.size();
    std::unordered_map<std::vector<int32_t>, int, VectorHash> class_of_column;
    std::vector<int> interval_class(static_cast<size_t>(num_intervals_));
    std::vector<int32_t> column(n);
    for (int i = 0; i < num_intervals_; ++i) {
      for (size_t s = 0; s < n; ++s) column[s] = interval_next_[s * static_cast<size_t>(num_intervals_) + static_cast<size_t>(i)];
      auto [it, inserted] = class_of_column.emplace(column, static_cast<int>(class_of_column.size()));
      interval_class[static_cast<size_t>(i)] = it->second;
      if (inserted) representative_.push_back(i);
    }
    a_.num_classes_ = static_cast<int>(representative_.size());
    for (int b = 0; b < 256; ++b) a_.byte_class_[b] = static_cast<uint8_t>(interval_class[interval_of_byte_[b]]);
    a_.next_.assign(n * static_cast<size_t>(a_.num_classes_), -1);
    for (size_t s = 0; s < n; ++s) {
      for (int c = 0; c < a_.num_classes_; ++c) {
        a_.next_[s * static_cast<size_t>(a_.num_classes_) + static_cast<size_t>(c)] =
            interval_next_[s * static_cast<size_t>(num_intervals_) + static_cast<size_t>(representative_[static_cast<size_t>(c)])];
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
    std::vector<std::vector<int32_t>> byte_preds(n);
    std::vector<std::vector<int32_t>> ref_preds(n);       // by the ref edge's target
    std::vector<std::vector<int32_t>> start_preds(n);     // by the referenced rule's start
    for (size_t s = 0; s < n; ++s) {
      for (size_t c = 0; c < classes; ++c) {
        const int32_t t = a_.next_[s * classes + c];
        if (t >= 0 && (byte_preds[static_cast<size_t>(t)].empty() || byte_preds[static_cast<size_t>(t)].back() != static_cast<int32_t>(s))) {
          byte_preds[static_cast<size_t>(t)].push_back(static_cast<int32_t>(s));
        }
      }
      for (const RefEdge& e : state_refs_[s]) {
        ref_preds[static_cast<size_t>(e.target)].push_back(static_cast<int32_t>(s));
        start_preds[static_cast<size_t>(a_.rule_start_[static_cast<size_t>(e.rule)])].push_back(static_cast<int32_t>(s));
      }
    }
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
    while (!work.empty()) {
      const int32_t t = work.back();
      work.pop_back();
      for (int32_t p : byte_preds[static_cast<size_t>(t)]) mark(p);
      for (int32_t p : ref_preds[static_cast<size_t>(t)]) {
        if (ref_live(p)) mark(p);
      }
      for (int32_t p : start_preds[static_cast<size_t>(t)]) {
        if (ref_live(p)) mark(p);
      }
    }
    std::vector<ByteSet> class_bytes(classes);
    for (int b = 0; b < 256; ++b) class_bytes[a_.byte_class_[b]].set(static_cast<uint8_t>(b));
    a_.ref_begin_.assign(n + 1, 0);
    a_.has_bytes_.assign(n, 0);
    a_.self_loop_.assign(n, ByteSet());
    a_.byte_edges_.assign(n, ByteSet());
    for (size_t s = 0; s < n; ++s) {
      for (size_t c = 0; c < classes; ++c) {
        int32_t& t = a_.next_[s * classes + c];
        if (t >= 0 && !live_[static_cast<size_t>(t)]) t = -1;
        if (t < 0) continue;
        a_.has_bytes_[s] = 1;
        a_.byte_edges_[s] |= class_bytes[c];
        if (t == static_cast<int32_t>(s)) a_.self_loop_[s] |= class_bytes[c];
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
