// Regular expressions (the `regex` field of vLLM's structured outputs, JSON Schema `pattern` and
// the string formats) compiled to grammar expressions. The syntax is the common subset of
// Python's re, ECMAScript and PCRE2: literals, escapes (\d \w \s \D \W \S \t \n \r \f \v \xHH
// \uHHHH \u{...} \x{...}), classes with ranges and negation, `.`, groups ( ), (?: ), named
// groups, alternation, the quantifiers * + ? {n} {n,} {n,m} {,m} (lazy ones match the same
// strings), and ^ / $ at the ends. Matching is of the whole string, as structured outputs use it.
// Lookaround, backreferences, word boundaries, possessive quantifiers, inline flags and Unicode
// property classes give an error naming them.
//
// Where the dialects differ the positive classes take the narrow ASCII reading (\d = [0-9],
// \w = [A-Za-z0-9_], \s = [ \t\n\v\f\r]) and the negated ones the wide one (\S excludes
// Unicode spaces as ECMAScript does), so that every match is a match in all three.
#pragma once

#include <string_view>

#include "base/status.h"
#include "grammar/grammar.h"

namespace kiln::grammar {

struct RegexOptions {
  // The pattern describes the content of a JSON string: characters a JSON string must escape
  // (" \ and controls) are matched in their escaped form (\" \\ \n \u001f ...).
  bool json_string = false;
  int max_repeat = 10000;  // largest count in {n,m}
};

// Errors name the position: "regex: at offset 7: lookahead (?= is not supported".
Result<ExprId> parse_regex(std::string_view pattern, Grammar* grammar, const RegexOptions& options = {});
// A grammar whose root matches exactly the strings the pattern matches.
Result<Grammar> regex_to_grammar(std::string_view pattern);

// The expression for one character of a JSON string's content drawn from `ranges` (code points),
// with the characters JSON escapes in their escaped form.
ExprId json_string_char_class(Grammar* grammar, const std::vector<CodepointRange>& ranges);

}  // namespace kiln::grammar
