// A context-free grammar over bytes: the one form that JSON Schema, regular expressions, choices
// and EBNF (grammar/json_schema.h, regex_parser.h, ebnf_parser.h) all compile to, before the
// compiler turns each rule into a byte automaton (grammar/automaton.h).
//
// Rules are named expressions; an expression is a tree of literals, character classes,
// sequences, choices, bounded or unbounded repetitions and references to rules. Character classes
// are over Unicode scalar values and match their UTF-8 encoding; byte classes match single bytes
// (for grammars over raw bytes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::grammar {

using ExprId = int32_t;
using RuleId = int32_t;

struct CodepointRange {
  uint32_t first = 0;  // inclusive
  uint32_t last = 0;   // inclusive
};

inline constexpr uint32_t kMaxCodepoint = 0x10FFFF;
inline constexpr int32_t kUnbounded = -1;

enum class ExprKind : uint8_t {
  kEmpty,       // matches ""
  kBytes,       // the literal bytes `text`
  kByteClass,   // one byte in `ranges` (each within 0..255)
  kCharClass,   // one Unicode scalar value in `ranges`, UTF-8 encoded
  kSequence,    // `children` in order
  kChoice,      // one of `children`
  kRepeat,      // children[0] repeated min..max times (max kUnbounded: no limit)
  kRuleRef,     // the rule `rule`
  // The items `children` in order, each optional unless required[i], the present ones joined by
  // `separator`; then, when rest >= 0, any number of `rest` items joined the same way (JSON
  // object members: listed properties in order, then additional ones).
  kSubsequence,
};

struct Expr {
  ExprKind kind = ExprKind::kEmpty;
  std::string text;
  std::vector<CodepointRange> ranges;  // sorted, disjoint, not adjacent
  std::vector<ExprId> children;
  int32_t min = 0;
  int32_t max = 0;
  RuleId rule = -1;
  std::vector<uint8_t> required;  // kSubsequence
  ExprId separator = -1;          // kSubsequence
  ExprId rest = -1;               // kSubsequence
};

struct Rule {
  std::string name;
  ExprId body = -1;  // -1 until set
  // Compile as a rule of its own even where inlining would do (automaton.h): its states are
  // then shared by every place that uses it, and across grammars when it refers to no rule.
  bool keep = false;
};

// Sorts and merges ranges; drops the surrogates (U+D800..U+DFFF, never valid UTF-8) from
// character classes when `is_codepoint` is set.
std::vector<CodepointRange> normalize_ranges(std::vector<CodepointRange> ranges, bool is_codepoint);
// Everything in [0, max] (minus the surrogates for code points) that `ranges` leaves out.
std::vector<CodepointRange> complement_ranges(const std::vector<CodepointRange>& ranges, bool is_codepoint);

class Grammar {
 public:
  ExprId empty();
  ExprId bytes(std::string_view text);  // "" becomes empty()
  ExprId byte_class(std::vector<CodepointRange> ranges);
  ExprId char_class(std::vector<CodepointRange> ranges);
  ExprId sequence(std::vector<ExprId> children);  // flattens nested sequences, drops empties
  ExprId choice(std::vector<ExprId> children);
  ExprId repeat(ExprId child, int32_t min, int32_t max);
  ExprId optional(ExprId child) { return repeat(child, 0, 1); }
  ExprId star(ExprId child) { return repeat(child, 0, kUnbounded); }
  ExprId ref(RuleId rule);
  ExprId subsequence(std::vector<ExprId> items, std::vector<uint8_t> required, ExprId separator, ExprId rest);

  // A new rule with no body yet; names are made unique by suffixes ("value", "value_2", ...).
  RuleId add_rule(std::string_view name);
  void set_body(RuleId rule, ExprId body);
  void set_keep(RuleId rule) { rules_[static_cast<size_t>(rule)].keep = true; }
  // -1 when no rule has this name.
  RuleId find_rule(std::string_view name) const;
  void set_root(RuleId rule) { root_ = rule; }
  RuleId root() const { return root_; }

  const Expr& expr(ExprId id) const { return exprs_[static_cast<size_t>(id)]; }
  const Rule& rule(RuleId id) const { return rules_[static_cast<size_t>(id)]; }
  int num_rules() const { return static_cast<int>(rules_.size()); }
  int num_exprs() const { return static_cast<int>(exprs_.size()); }

  // The grammar in the EBNF that ebnf_parser.h reads, for messages and debugging (a
  // subsequence prints as subsequence(...), which the parser does not read).
  std::string to_ebnf() const;
  std::string expr_to_ebnf(ExprId id) const;

 private:
  ExprId add(Expr expr);

  std::vector<Expr> exprs_;
  std::vector<Rule> rules_;
  RuleId root_ = -1;
};

}  // namespace kiln::grammar
