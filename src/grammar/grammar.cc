#include "grammar/grammar.h"

#include <algorithm>
#include <cstdio>
#include <unordered_set>
#include <utility>

namespace kiln::grammar {
namespace {

constexpr uint32_t kSurrogateFirst = 0xD800;
constexpr uint32_t kSurrogateLast = 0xDFFF;

// A code point or byte as EBNF writes it inside "..." or [...].
std::string escape_for_ebnf(uint32_t c, bool in_class) {
  switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\\': return "\\\\";
    case '"': return in_class ? "\"" : "\\\"";
    default: break;
  }
  if (in_class && (c == ']' || c == '-' || c == '^' || c == '[')) return std::string("\\") + static_cast<char>(c);
  char buffer[16];
  if (c < 0x20 || c == 0x7F) {
    std::snprintf(buffer, sizeof buffer, "\\x%02X", c);
    return buffer;
  }
  if (c < 0x80) return std::string(1, static_cast<char>(c));
  if (c <= 0xFFFF) std::snprintf(buffer, sizeof buffer, "\\u%04X", c);
  else std::snprintf(buffer, sizeof buffer, "\\U%08X", c);
  return buffer;
}

}  // namespace

std::vector<CodepointRange> normalize_ranges(std::vector<CodepointRange> ranges, bool is_codepoint) {
  std::vector<CodepointRange> cut;
  for (CodepointRange r : ranges) {
    if (r.first > r.last) continue;
    if (is_codepoint) {
      r.last = std::min(r.last, kMaxCodepoint);
      if (r.first > r.last) continue;
      if (r.first <= kSurrogateLast && r.last >= kSurrogateFirst) {
        if (r.first < kSurrogateFirst) cut.push_back({r.first, kSurrogateFirst - 1});
        if (r.last > kSurrogateLast) cut.push_back({kSurrogateLast + 1, r.last});
        continue;
      }
    } else {
      r.last = std::min<uint32_t>(r.last, 0xFF);
      if (r.first > r.last) continue;
    }
    cut.push_back(r);
  }
  std::sort(cut.begin(), cut.end(), [](const CodepointRange& a, const CodepointRange& b) { return a.first < b.first; });
  std::vector<CodepointRange> merged;
  for (const CodepointRange& r : cut) {
    if (!merged.empty() && r.first <= merged.back().last + 1) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

std::vector<CodepointRange> complement_ranges(const std::vector<CodepointRange>& ranges, bool is_codepoint) {
  const std::vector<CodepointRange> sorted = normalize_ranges(ranges, is_codepoint);
  const uint32_t max = is_codepoint ? kMaxCodepoint : 0xFF;
  std::vector<CodepointRange> out;
  uint32_t next = 0;
  for (const CodepointRange& r : sorted) {
    if (r.first > next) out.push_back({next, r.first - 1});
    next = r.last + 1;
  }
  if (next <= max) out.push_back({next, max});
  return normalize_ranges(std::move(out), is_codepoint);
}

ExprId Grammar::add(Expr expr) {
  exprs_.push_back(std::move(expr));
  return static_cast<ExprId>(exprs_.size() - 1);
}

ExprId Grammar::empty() { return add(Expr{}); }

ExprId Grammar::bytes(std::string_view text) {
  if (text.empty()) return empty();
  Expr e;
  e.kind = ExprKind::kBytes;
  e.text = std::string(text);
  return add(std::move(e));
}

ExprId Grammar::byte_class(std::vector<CodepointRange> ranges) {
  Expr e;
  e.kind = ExprKind::kByteClass;
  e.ranges = normalize_ranges(std::move(ranges), false);
  return add(std::move(e));
}

ExprId Grammar::char_class(std::vector<CodepointRange> ranges) {
  Expr e;
  e.kind = ExprKind::kCharClass;
  e.ranges = normalize_ranges(std::move(ranges), true);
  return add(std::move(e));
}

ExprId Grammar::sequence(std::vector<ExprId> children) {
  std::vector<ExprId> flat;
  for (ExprId c : children) {
    const Expr& e = expr(c);
    if (e.kind == ExprKind::kEmpty) continue;
    if (e.kind == ExprKind::kSequence) flat.insert(flat.end(), e.children.begin(), e.children.end());
    else flat.push_back(c);
  }
  if (flat.empty()) return empty();
  if (flat.size() == 1) return flat[0];
  Expr e;
  e.kind = ExprKind::kSequence;
  e.children = std::move(flat);
  return add(std::move(e));
}

ExprId Grammar::choice(std::vector<ExprId> children) {
  if (children.size() == 1) return children[0];
  Expr e;
  e.kind = ExprKind::kChoice;
  e.children = std::move(children);
  return add(std::move(e));
}

ExprId Grammar::repeat(ExprId child, int32_t min, int32_t max) {
  if (max == 0) return empty();
  if (min == 1 && max == 1) return child;
  Expr e;
  e.kind = ExprKind::kRepeat;
  e.children = {child};
  e.min = min;
  e.max = max;
  return add(std::move(e));
}

ExprId Grammar::ref(RuleId rule) {
  Expr e;
  e.kind = ExprKind::kRuleRef;
  e.rule = rule;
  return add(std::move(e));
}

ExprId Grammar::subsequence(std::vector<ExprId> items, std::vector<uint8_t> required, ExprId separator,
                            ExprId rest) {
  Expr e;
  e.kind = ExprKind::kSubsequence;
  e.children = std::move(items);
  e.required = std::move(required);
  e.separator = separator;
  e.rest = rest;
  return add(std::move(e));
}

RuleId Grammar::add_rule(std::string_view name) {
  std::string unique(name.empty() ? "rule" : name);
  for (int suffix = 2; find_rule(unique) >= 0; ++suffix) {
    unique = std::string(name) + "_" + std::to_string(suffix);
  }
  rules_.push_back(Rule{std::move(unique), -1});
  return static_cast<RuleId>(rules_.size() - 1);
}

void Grammar::set_body(RuleId rule, ExprId body) { rules_[static_cast<size_t>(rule)].body = body; }

RuleId Grammar::find_rule(std::string_view name) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].name == name) return static_cast<RuleId>(i);
  }
  return -1;
}

std::string Grammar::expr_to_ebnf(ExprId id) const {
  const Expr& e = expr(id);
  switch (e.kind) {
    case ExprKind::kEmpty: return "\"\"";
    case ExprKind::kBytes: {
      std::string out = "\"";
      for (unsigned char c : e.text) out += escape_for_ebnf(c, false);
      return out + "\"";
    }
    case ExprKind::kByteClass:
    case ExprKind::kCharClass: {
      std::string out = e.kind == ExprKind::kByteClass ? "[" : "[";
      for (const CodepointRange& r : e.ranges) {
        out += escape_for_ebnf(r.first, true);
        if (r.last != r.first) out += "-" + escape_for_ebnf(r.last, true);
      }
      return out + "]";
    }
    case ExprKind::kSequence:
    case ExprKind::kChoice: {
      std::string out = "(";
      for (size_t i = 0; i < e.children.size(); ++i) {
        if (i) out += e.kind == ExprKind::kChoice ? " | " : " ";
        out += expr_to_ebnf(e.children[i]);
      }
      return out + ")";
    }
    case ExprKind::kRepeat: {
      std::string out = expr_to_ebnf(e.children[0]);
      if (e.min == 0 && e.max == kUnbounded) return out + "*";
      if (e.min == 1 && e.max == kUnbounded) return out + "+";
      if (e.min == 0 && e.max == 1) return out + "?";
      out += "{" + std::to_string(e.min);
      if (e.max != e.min) out += "," + (e.max == kUnbounded ? std::string() : std::to_string(e.max));
      return out + "}";
    }
    case ExprKind::kRuleRef: return rule(e.rule).name;
    case ExprKind::kSubsequence: {
      std::string out = "subsequence(";
      for (size_t i = 0; i < e.children.size(); ++i) {
        out += (i ? ", " : "") + expr_to_ebnf(e.children[i]) + (e.required[i] ? "" : "?");
      }
      out += "; separator " + expr_to_ebnf(e.separator);
      if (e.rest >= 0) out += "; rest " + expr_to_ebnf(e.rest);
      return out + ")";
    }
  }
  return "";
}

std::string Grammar::to_ebnf() const {
  std::string out;
  for (const Rule& r : rules_) {
    out += r.name + " ::= " + (r.body >= 0 ? expr_to_ebnf(r.body) : std::string("\"\"")) + "\n";
  }
  return out;
}

}  // namespace kiln::grammar
