// JSON's own syntax as expressions of one grammar: whitespace between tokens, strings, numbers,
// any value, and object keys outside a set. JSON Schema's keywords (json_schema.h) are compiled
// on top of these; the rules made here (a string rule per length bound, the one any-value rule)
// are made once and shared by every place that uses them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "grammar/grammar.h"

namespace kiln::grammar {

class JsonSyntaxBuilder {
 public:
  // `max_whitespace`: how much space, newline and tab one gap between tokens may hold
  // (kUnbounded: no limit).
  JsonSyntaxBuilder(Grammar* g, int32_t max_whitespace) : g_(g), max_whitespace_(max_whitespace) {}

  ExprId whitespace();
  ExprId separator(const char* text);  // `text` with whitespace either side
  // A JSON string, quotes included, of min_length..max_length characters (max kUnbounded).
  ExprId string(int32_t min_length, int32_t max_length);
  ExprId number();  // any JSON number
  ExprId any_value();
  ExprId any_object();
  // A JSON string, quotes included, whose content is none of `names` (additional property keys).
  ExprId key_not_in(const std::vector<std::string>& names);

 private:
  ExprId string_char();    // one character of a string's content, escapes included
  ExprId escape_letter();  // the letter after a backslash, \u aside
  ExprId hex_digit();

  Grammar* g_;
  int32_t max_whitespace_;
  std::map<std::pair<int32_t, int32_t>, RuleId> string_rules_;
  RuleId any_value_rule_ = -1;
};

}  // namespace kiln::grammar
