// Reads grammars in the GBNF-style EBNF that llama.cpp and XGrammar accept (vLLM's `grammar`
// field): rules `name ::= alternatives`, "string" literals, [character classes] (ranges, ^
// negation, \x \u \U escapes), rule references, ( ) groups, | alternatives, the quantifiers
// * + ? {n} {n,} {n,m} {,m}, `.` for any character and # comments. A rule may span lines; a
// new rule starts at `name ::=`. XGrammar's lookahead assertion `(= ...)` after a rule body is
// accepted and not needed (the matcher looks at the whole grammar). Left recursion is fine.
#pragma once

#include <string_view>

#include "base/status.h"
#include "grammar/grammar.h"

namespace kiln::grammar {

// Errors give line and column and what was expected: "line 3, column 14: expected ')'".
Result<Grammar> parse_ebnf(std::string_view text, std::string_view root_rule = "root");

}  // namespace kiln::grammar
