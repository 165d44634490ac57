// An independent oracle for the grammar tests: decides by memoized recursion over the grammar's
// expression tree (no automaton, no Earley sets, no caches) whether a byte string is a prefix of
// some sentence of the grammar, or a whole sentence. Slow and simple on purpose. Assumes every
// rule matches some string and no rule is left-recursive.
#pragma once

#include <map>
#include <tuple>
#include <vector>
#include <set>
#include <string>
#include <utility>

#include "grammar/grammar.h"

namespace kiln::grammar::testing {

class ReferenceMatcher {
 public:
  ReferenceMatcher(const Grammar& g, std::string s) : g_(g), s_(std::move(s)) {}

  bool is_prefix() { return pre(g_.rule(g_.root()).body, 0) || ends(g_.rule(g_.root()).body, 0).count(s_.size()); }
  bool is_sentence() { return ends(g_.rule(g_.root()).body, 0).count(s_.size()) > 0; }

 private:
  using Key = std::pair<ExprId, size_t>;

  // Positions p with s[pos, p) in L(e).
  const std::set<size_t>& ends(ExprId e, size_t pos) {
    const Key key{e, pos};
    if (auto it = ends_.find(key); it != ends_.end()) return it->second;
    std::set<size_t> out;
    const Expr& x = g_.expr(e);
    switch (x.kind) {
      case ExprKind::kEmpty: out.insert(pos); break;
      case ExprKind::kBytes:
        if (s_.compare(pos, x.text.size(), x.text) == 0 && pos + x.text.size() <= s_.size()) out.insert(pos + x.text.size());
        break;
      case ExprKind::kByteClass:
        if (pos < s_.size() && in_ranges(x, static_cast<unsigned char>(s_[pos]))) out.insert(pos + 1);
        break;
      case ExprKind::kCharClass: {
        size_t len = 0;
        uint32_t cp = 0;
        if (decode(pos, &cp, &len) && in_ranges(x, cp)) out.insert(pos + len);
        break;
      }
      case ExprKind::kSequence: {
        std::set<size_t> frontier{pos};
        for (ExprId c : x.children) {
          std::set<size_t> next;
          for (size_t p : frontier) {
            const auto& e2 = ends(c, p);
            next.insert(e2.begin(), e2.end());
          }
          frontier = std::move(next);
        }
        out = std::move(frontier);
        break;
      }
      case ExprKind::kChoice:
        for (ExprId c : x.children) {
          const auto& e2 = ends(c, pos);
          out.insert(e2.begin(), e2.end());
        }
        break;
      case ExprKind::kRepeat: {
        std::set<size_t> frontier{pos};
        std::set<size_t> seen_after_min;
        for (int i = 0;; ++i) {
          if (i >= x.min) {
            bool grew = false;
            for (size_t p : frontier) grew |= seen_after_min.insert(p).second;
            if (!grew && i > x.min) break;
          }
          if (x.max != kUnbounded && i == x.max) break;
          std::set<size_t> next;
          for (size_t p : frontier) {
            const auto& e2 = ends(x.children[0], p);
            next.insert(e2.begin(), e2.end());
          }
          if (next.empty()) break;
          frontier = std::move(next);
        }
        out = seen_after_min;
        break;
      }
      case ExprKind::kRuleRef: out = ends(g_.rule(x.rule).body, pos); break;
      case ExprKind::kSubsequence: walk_subsequence(x, pos, &out, nullptr); break;
    }
    return ends_[key] = std::move(out);
  }

  // Some w in L(e) has s[pos, end) as a proper prefix... or equal; every rule is productive.
  bool pre(ExprId e, size_t pos) {
    if (pos == s_.size()) return true;
    const Key key{e, pos};
    if (auto it = pre_.find(key); it != pre_.end()) return it->second;
    bool out = false;
    const Expr& x = g_.expr(e);
    switch (x.kind) {
      case ExprKind::kEmpty: out = false; break;
      case ExprKind::kBytes: {
        const size_t rest = s_.size() - pos;
        out = rest <= x.text.size() && x.text.compare(0, rest, s_, pos, rest) == 0;
        break;
      }
      case ExprKind::kByteClass: out = false; break;  // one byte: a whole match or nothing
      case ExprKind::kCharClass: out = partial_char(x, pos); break;
      case ExprKind::kSequence: {
        std::set<size_t> frontier{pos};
        for (ExprId c : x.children) {
          for (size_t p : frontier) out = out || pre(c, p);
          if (out) break;
          std::set<size_t> next;
          for (size_t p : frontier) {
            const auto& e2 = ends(c, p);
            next.insert(e2.begin(), e2.end());
          }
          frontier = std::move(next);
          if (frontier.empty()) break;
        }
        break;
      }
      case ExprKind::kChoice:
        for (ExprId c : x.children) out = out || pre(c, pos);
        break;
      case ExprKind::kRepeat: {
        std::set<size_t> frontier{pos};
        std::set<size_t> seen;
        for (int i = 0; !out; ++i) {
          if (x.max != kUnbounded && i >= x.max) break;
          for (size_t p : frontier) out = out || pre(x.children[0], p);
          std::set<size_t> next;
          for (size_t p : frontier) {
            for (size_t q : ends(x.children[0], p)) {
              if (seen.insert(q).second || i < x.min) next.insert(q);
            }
          }
          if (next.empty()) break;
          frontier = std::move(next);
        }
        break;
      }
      case ExprKind::kRuleRef: out = pre(g_.rule(x.rule).body, pos); break;
      case ExprKind::kSubsequence: {
        std::set<size_t> unused;
        walk_subsequence(x, pos, &unused, &out);
        break;
      }
    }
    return pre_[key] = out;
  }

  // Explores (next item, anything emitted, position) states of a subsequence: collects where it
  // can end, and whether the text ends inside one of its parts.
  void walk_subsequence(const Expr& x, size_t pos, std::set<size_t>* ends_out, bool* prefix_out) {
    const size_t n = x.children.size();
    std::set<std::tuple<size_t, bool, size_t>> seen;
    std::vector<std::tuple<size_t, bool, size_t>> work{{0, false, pos}};
    auto push = [&](size_t i, bool emitted, size_t p) {
      if (seen.insert({i, emitted, p}).second) work.push_back({i, emitted, p});
    };
    while (!work.empty()) {
      auto [i, emitted, p] = work.back();
      work.pop_back();
      // i == n: listed items done; i == n + 1: in the rest loop. Both may end here.
      const bool at_rest = i >= n;
      if (at_rest) ends_out->insert(p);
      if (at_rest && x.rest < 0) continue;
      const ExprId next = at_rest ? x.rest : x.children[i];
      if (!at_rest && !x.required[i]) push(i + 1, emitted, p);
      std::set<size_t> starts;
      if (emitted) {
        if (prefix_out && pre(x.separator, p)) *prefix_out = true;
        starts = ends(x.separator, p);
      } else {
        starts.insert(p);
      }
      for (size_t q : starts) {
        if (prefix_out && pre(next, q)) *prefix_out = true;
        for (size_t r : ends(next, q)) push(at_rest ? n + 1 : i + 1, true, r);
      }
    }
  }

  static bool in_ranges(const Expr& x, uint32_t c) {
    for (const CodepointRange& r : x.ranges) {
      if (c >= r.first && c <= r.last) return true;
    }
    return false;
  }

  bool decode(size_t pos, uint32_t* cp, size_t* len) const {
    if (pos >= s_.size()) return false;
    const unsigned char b0 = static_cast<unsigned char>(s_[pos]);
    size_t n = b0 < 0x80 ? 1 : b0 >= 0xC2 && b0 < 0xE0 ? 2 : b0 >= 0xE0 && b0 < 0xF0 ? 3 : b0 >= 0xF0 && b0 < 0xF5 ? 4 : 0;
    if (n == 0 || pos + n > s_.size()) return false;
    uint32_t c = n == 1 ? b0 : n == 2 ? (b0 & 0x1Fu) : n == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
    for (size_t k = 1; k < n; ++k) {
      const unsigned char b = static_cast<unsigned char>(s_[pos + k]);
      if ((b & 0xC0) != 0x80) return false;
      c = (c << 6) | (b & 0x3F);
    }
    const uint32_t min = n == 1 ? 0 : n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    *cp = c;
    *len = n;
    return true;
  }

  // s[pos, end) is an incomplete UTF-8 encoding that some code point of the class completes.
  bool partial_char(const Expr& x, size_t pos) const {
    const size_t rest = s_.size() - pos;
    const unsigned char b0 = static_cast<unsigned char>(s_[pos]);
    size_t n = b0 >= 0xC2 && b0 < 0xE0 ? 2 : b0 >= 0xE0 && b0 < 0xF0 ? 3 : b0 >= 0xF0 && b0 < 0xF5 ? 4 : 0;
    if (n == 0 || rest >= n) return false;
    // The completions span [lo, hi]: fill the missing continuation bytes with 0x80 .. 0xBF.
    uint32_t lo = n == 2 ? (b0 & 0x1Fu) : n == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u), hi = lo;
    for (size_t k = 1; k < n; ++k) {
      unsigned char low_byte = 0x80, high_byte = 0xBF;
      if (k < rest) {
        low_byte = high_byte = static_cast<unsigned char>(s_[pos + k]);
        if ((low_byte & 0xC0) != 0x80) return false;
      }
      lo = (lo << 6) | (low_byte & 0x3Fu);
      hi = (hi << 6) | (high_byte & 0x3Fu);
    }
    const uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    lo = std::max(lo, min);
    hi = std::min<uint32_t>(hi, 0x10FFFF);
    for (const CodepointRange& r : x.ranges) {
      uint32_t a = std::max(lo, r.first), b = std::min(hi, r.last);
      if (a > b) continue;
      // Anything in [a, b] that is not a surrogate.
      if (a < 0xD800 || b > 0xDFFF) return true;
    }
    return false;
  }

  const Grammar& g_;
  std::string s_;
  std::map<Key, std::set<size_t>> ends_;
  std::map<Key, bool> pre_;
};

}  // namespace kiln::grammar::testing
