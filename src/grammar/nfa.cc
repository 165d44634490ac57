#include "grammar/nfa.h"

#include <algorithm>
#include <functional>
#include <string>

#include "grammar/utf8_ranges.h"

namespace kiln::grammar {
namespace {

constexpr int64_t kSizeCap = int64_t{1} << 40;

int64_t saturating_add(int64_t a, int64_t b) { return std::min(kSizeCap, a + b); }
int64_t saturating_mul(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kSizeCap / b ? kSizeCap : std::min(kSizeCap, a * b);
}

class NfaBuilder {
 public:
  NfaBuilder(const Grammar& grammar, const AutomatonLimits& limits) : g_(grammar), limits_(limits) {}

  Result<NfaSet> build() {
    if (g_.root() < 0 || g_.root() >= g_.num_rules()) return Status::error("the grammar has no root rule");
    KILN_RETURN_IF_ERROR(check_bodies());
    find_recursive_rules();
    count_references();
    kept_index_.assign(static_cast<size_t>(g_.num_rules()), -1);
    keep(g_.root());
    for (size_t k = 0; k < out_.rules.size(); ++k) {  // keep() appends while we walk
      RuleNfa& rule = out_.rules[k];
      rule.start = new_state();
      const RuleId source = rule.source_rule;
      const int32_t end = build_expr(g_.rule(source).body, out_.rules[k].start);
      if (!error_.ok()) return error_;
      out_.rules[k].end = end;
    }
    return std::move(out_);
  }

 private:
  Status check_bodies() {
    std::vector<char> seen(static_cast<size_t>(g_.num_rules()), 0);
    std::vector<RuleId> stack{g_.root()};
    seen[static_cast<size_t>(g_.root())] = 1;
    while (!stack.empty()) {
      const RuleId r = stack.back();
      stack.pop_back();
      if (g_.rule(r).body < 0) return Status::error("rule '" + g_.rule(r).name + "' has no definition");
      for_each_ref(g_.rule(r).body, [&](RuleId target) {
        if (!seen[static_cast<size_t>(target)]) {
          seen[static_cast<size_t>(target)] = 1;
          stack.push_back(target);
        }
      });
    }
    reachable_ = std::move(seen);
    return ok_status();
  }

  void for_each_ref(ExprId id, const std::function<void(RuleId)>& f) const {
    const Expr& e = g_.expr(id);
    if (e.kind == ExprKind::kRuleRef) f(e.rule);
    for (ExprId c : children_of(e)) for_each_ref(c, f);
  }

  // Tarjan's strongly connected components over the reachable rules' references.
  void find_recursive_rules() {
    const size_t n = static_cast<size_t>(g_.num_rules());
    recursive_.assign(n, 0);
    std::vector<int> index(n, -1), low(n, 0);
    std::vector<char> on_stack(n, 0);
    std::vector<RuleId> stack;
    int counter = 0;
    std::vector<std::vector<RuleId>> succ(n);
    for (size_t r = 0; r < n; ++r) {
      if (!reachable_[r]) continue;
      for_each_ref(g_.rule(static_cast<RuleId>(r)).body, [&](RuleId t) {
        succ[r].push_back(t);
        if (static_cast<size_t>(t) == r) recursive_[r] = 1;
      });
    }
    std::function<void(size_t)> connect = [&](size_t v) {
      index[v] = low[v] = counter++;
      stack.push_back(static_cast<RuleId>(v));
      on_stack[v] = 1;
      for (RuleId w_id : succ[v]) {
        const size_t w = static_cast<size_t>(w_id);
        if (index[w] < 0) {
          connect(w);
          low[v] = std::min(low[v], low[w]);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
      }
      if (low[v] == index[v]) {
        std::vector<RuleId> component;
        RuleId w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[static_cast<size_t>(w)] = 0;
          component.push_back(w);
        } while (static_cast<size_t>(w) != v);
        if (component.size() > 1) {
          for (RuleId c : component) recursive_[static_cast<size_t>(c)] = 1;
        }
      }
    };
    for (size_t r = 0; r < n; ++r) {
      if (reachable_[r] && index[r] < 0) connect(r);
    }
  }

  void count_references() {
    references_.assign(static_cast<size_t>(g_.num_rules()), 0);
    for (RuleId r = 0; r < g_.num_rules(); ++r) {
      if (!reachable_[static_cast<size_t>(r)]) continue;
      for_each_ref(g_.rule(r).body, [&](RuleId t) { ++references_[static_cast<size_t>(t)]; });
    }
    inline_size_.assign(static_cast<size_t>(g_.num_rules()), -1);
    wide_class_.assign(static_cast<size_t>(g_.num_rules()), -1);
    wide_loop_.assign(static_cast<size_t>(g_.num_rules()), -1);
  }

  // NFA states the rule would add if inlined everywhere it is used (recursive rules count 1).
  int64_t inline_size(RuleId r) {
    int64_t& memo = inline_size_[static_cast<size_t>(r)];
    if (memo >= 0) return memo;
    memo = kSizeCap;  // guards against cycles; recursive rules never get here
    memo = expr_size(g_.rule(r).body);
    return memo;
  }

  int64_t expr_size(ExprId id) {
    const Expr& e = g_.expr(id);
    switch (e.kind) {
      case ExprKind::kEmpty: return 0;
      case ExprKind::kBytes: return static_cast<int64_t>(e.text.size());
      case ExprKind::kByteClass: return 1;
      case ExprKind::kCharClass: return 4 * static_cast<int64_t>(e.ranges.size()) + 4;
      case ExprKind::kSequence:
      case ExprKind::kChoice: {
        int64_t total = 1;
        for (ExprId c : e.children) total = saturating_add(total, expr_size(c));
        return total;
      }
      case ExprKind::kRepeat: {
        const int64_t copies = e.max == kUnbounded ? e.min + 1 : e.max;
        return saturating_add(2, saturating_mul(copies + 1, expr_size(e.children[0])));
      }
      case ExprKind::kRuleRef:
        return recursive_[static_cast<size_t>(e.rule)] ? 1 : inline_size(e.rule);
      case ExprKind::kSubsequence: {
        int64_t total = 4;
        for (ExprId c : e.children) total = saturating_add(total, saturating_add(expr_size(c), expr_size(e.separator) + 1));
        if (e.rest >= 0) total = saturating_add(total, 2 * (expr_size(e.rest) + expr_size(e.separator)));
        return total;
      }
    }
    return 0;
  }

  // A rule that loops over a wide character class (a JSON string, free text) stays a rule:
  // its states accept most of the vocabulary, so they are worth classifying once for every
  // place the rule is used rather than once per inlined copy.
  bool stays_rule(RuleId r) {
    if (r == g_.root() || recursive_[static_cast<size_t>(r)] || g_.rule(r).keep) return true;
    if (rule_loops_over_wide_class(r)) return true;
    return references_[static_cast<size_t>(r)] > 1 && inline_size(r) > limits_.max_inline_nfa_states;
  }

  static constexpr uint64_t kWideClass = 128;  // code points
  static constexpr int32_t kLongRepeat = 16;

  bool rule_has_wide_class(RuleId r) {
    int8_t& memo = wide_class_[static_cast<size_t>(r)];
    if (memo < 0) {
      memo = 0;
      memo = has_wide_class(g_.rule(r).body) ? 1 : 0;
    }
    return memo == 1;
  }

  bool has_wide_class(ExprId id) {
    const Expr& e = g_.expr(id);
    if (e.kind == ExprKind::kCharClass) {
      uint64_t size = 0;
      for (const CodepointRange& r : e.ranges) size += r.last - r.first + 1;
      return size >= kWideClass;
    }
    if (e.kind == ExprKind::kRuleRef) return !recursive_[static_cast<size_t>(e.rule)] && rule_has_wide_class(e.rule);
    for (ExprId c : children_of(e)) {
      if (has_wide_class(c)) return true;
    }
    return false;
  }

  // The sub-expressions of `e`, the separator and rest of a subsequence included.
  static std::vector<ExprId> children_of(const Expr& e) {
    std::vector<ExprId> out = e.children;
    if (e.kind == ExprKind::kSubsequence) {
      out.push_back(e.separator);
      if (e.rest >= 0) out.push_back(e.rest);
    }
    return out;
  }

  bool rule_loops_over_wide_class(RuleId r) {
    int8_t& memo = wide_loop_[static_cast<size_t>(r)];
    if (memo < 0) {
      memo = 0;
      memo = loops_over_wide_class(g_.rule(r).body) ? 1 : 0;
    }
    return memo == 1;
  }

  bool loops_over_wide_class(ExprId id) {
    const Expr& e = g_.expr(id);
    if (e.kind == ExprKind::kRepeat && (e.max == kUnbounded || e.max > kLongRepeat) && has_wide_class(e.children[0])) {
      return true;
    }
    if (e.kind == ExprKind::kRuleRef) return !recursive_[static_cast<size_t>(e.rule)] && rule_loops_over_wide_class(e.rule);
    // A subsequence's rest repeats without bound.
    if (e.kind == ExprKind::kSubsequence && e.rest >= 0 && has_wide_class(e.rest)) return true;
    for (ExprId c : children_of(e)) {
      if (loops_over_wide_class(c)) return true;
    }
    return false;
  }

  RuleId keep(RuleId r) {
    int32_t& k = kept_index_[static_cast<size_t>(r)];
    if (k < 0) {
      k = static_cast<int32_t>(out_.rules.size());
      out_.rules.push_back(RuleNfa{r, -1, -1});
    }
    return k;
  }

  int32_t new_state() {
    if (static_cast<int64_t>(out_.edges.size()) >= limits_.max_nfa_states && error_.ok()) {
      error_ = Status::error("the grammar is too large: more than " + std::to_string(limits_.max_nfa_states) +
                             " automaton states");
    }
    out_.edges.emplace_back();
    return static_cast<int32_t>(out_.edges.size() - 1);
  }

  void epsilon(int32_t from, int32_t to) { out_.edges[static_cast<size_t>(from)].push_back({NfaEdge::kEpsilon, 0, 0, -1, to}); }
  void byte_edge(int32_t from, uint8_t first, uint8_t last, int32_t to) {
    out_.edges[static_cast<size_t>(from)].push_back({NfaEdge::kBytes, first, last, -1, to});
  }

  // Appends the fragment of `id` starting at `from` and returns its end. Fragments never add
  // edges into `from`, so alternatives may all start there.
  int32_t build_expr(ExprId id, int32_t from) {
    if (!error_.ok()) return from;
    const Expr& e = g_.expr(id);
    switch (e.kind) {
      case ExprKind::kEmpty: return from;
      case ExprKind::kBytes: {
        int32_t cur = from;
        for (unsigned char c : e.text) {
          const int32_t next = new_state();
          byte_edge(cur, c, c, next);
          cur = next;
        }
        return cur;
      }
      case ExprKind::kByteClass: {
        const int32_t end = new_state();
        for (const CodepointRange& r : e.ranges) {
          byte_edge(from, static_cast<uint8_t>(r.first), static_cast<uint8_t>(r.last), end);
        }
        return end;
      }
      case ExprKind::kCharClass: {
        const int32_t end = new_state();
        for (const Utf8Sequence& seq : utf8_sequences(e.ranges)) {
          int32_t cur = from;
          for (int i = 0; i < seq.length; ++i) {
            const int32_t next = i + 1 == seq.length ? end : new_state();
            byte_edge(cur, seq.bytes[i].first, seq.bytes[i].last, next);
            cur = next;
          }
        }
        return end;
      }
      case ExprKind::kSequence: {
        int32_t cur = from;
        for (ExprId c : e.children) cur = build_expr(c, cur);
        return cur;
      }
      case ExprKind::kChoice: {
        const int32_t end = new_state();
        for (ExprId c : e.children) {
          const int32_t start = new_state();
          epsilon(from, start);
          epsilon(build_expr(c, start), end);
        }
        return end;
      }
      case ExprKind::kRepeat: return build_repeat(e, from);
      case ExprKind::kSubsequence: return build_subsequence(e, from);
      case ExprKind::kRuleRef: {
        if (stays_rule(e.rule)) {
          const int32_t end = new_state();
          out_.edges[static_cast<size_t>(from)].push_back({NfaEdge::kRule, 0, 0, keep(e.rule), end});
          return end;
        }
        const int32_t start = new_state();
        epsilon(from, start);
        return build_expr(g_.rule(e.rule).body, start);
      }
    }
    return from;
  }

  // States after[i]: items before i decided, at least one emitted when i > 0 is reached by
  // emitting item i - 1. An item is entered from the start (nothing emitted yet) or after a
  // separator, and no required item may be skipped on the way.
  int32_t build_subsequence(const Expr& e, int32_t from) {
    const size_t n = e.children.size();
    size_t last_required = 0;  // one past the last required item
    for (size_t i = 0; i < n; ++i) {
      if (e.required[i]) last_required = i + 1;
    }
    std::vector<int32_t> entry(n), after(n + 1);
    after[0] = from;
    for (size_t i = 0; i < n && error_.ok(); ++i) {
      entry[i] = new_state();
      after[i + 1] = build_expr(e.children[i], entry[i]);
    }
    // From a point (nothing emitted, or after a separator) every item up to the next required
    // one may come next.
    auto link_entries = [&](int32_t point, size_t first) {
      for (size_t j = first; j < n; ++j) {
        epsilon(point, entry[j]);
        if (e.required[j]) break;
      }
    };
    link_entries(from, 0);
    for (size_t i = 1; i < n && error_.ok(); ++i) {
      const int32_t start = new_state();
      epsilon(after[i], start);
      link_entries(build_expr(e.separator, start), i);
    }
    const int32_t end = new_state();
    for (size_t i = last_required; i <= n; ++i) epsilon(after[i], end);
    if (e.rest >= 0 && error_.ok()) {
      const int32_t loop = new_state();  // at least one member emitted, all required ones done
      epsilon(loop, end);
      for (size_t i = std::max<size_t>(last_required, 1); i <= n; ++i) epsilon(after[i], loop);
      const int32_t sep_start = new_state();
      epsilon(loop, sep_start);
      const int32_t rest_start = new_state();
      epsilon(build_expr(e.separator, sep_start), rest_start);
      epsilon(build_expr(e.rest, rest_start), loop);
      if (last_required == 0) {
        const int32_t first_rest = new_state();
        epsilon(from, first_rest);
        epsilon(build_expr(e.rest, first_rest), loop);
      }
    }
    return end;
  }

  int32_t build_repeat(const Expr& e, int32_t from) {
    const ExprId child = e.children[0];
    int32_t cur = from;
    for (int32_t i = 0; i < e.min && error_.ok(); ++i) {
      const int32_t start = new_state();
      epsilon(cur, start);
      cur = build_expr(child, start);
    }
    if (e.max == kUnbounded) {
      const int32_t loop = new_state();
      epsilon(cur, loop);
      epsilon(build_expr(child, loop), loop);
      const int32_t end = new_state();
      epsilon(loop, end);
      return end;
    }
    // a{0,3} as (a (a (a)?)?)?: nested, so that each count has one path.
    const int32_t end = new_state();
    for (int32_t i = e.min; i < e.max && error_.ok(); ++i) {
      epsilon(cur, end);
      const int32_t start = new_state();
      epsilon(cur, start);
      cur = build_expr(child, start);
    }
    epsilon(cur, end);
    return end;
  }

  const Grammar& g_;
  const AutomatonLimits& limits_;
  NfaSet out_;
  Status error_;
  std::vector<char> reachable_;
  std::vector<char> recursive_;
  std::vector<int> references_;
  std::vector<int64_t> inline_size_;
  std::vector<int8_t> wide_class_;  // -1: not yet known
  std::vector<int8_t> wide_loop_;
  std::vector<int32_t> kept_index_;
};

}  // namespace

Result<NfaSet> build_nfas(const Grammar& grammar, const AutomatonLimits& limits) {
  return NfaBuilder(grammar, limits).build();
}

}  // namespace kiln::grammar
