// What a request constrains its output to, as plain data: the api layer fills it from
// response_format / structured_outputs / guided_* fields, the compiler turns it into a
// CompiledGrammar. Knows nothing of HTTP.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"

namespace kiln::grammar {

enum class GrammarKind {
  kJsonSchema,  // text: the schema as JSON
  kJsonObject,  // any JSON object
  kRegex,       // text: the pattern
  kChoice,      // choices: the output is exactly one of them
  kEbnf,        // text: the grammar, root rule "root"
};

struct GrammarSpec {
  GrammarKind kind = GrammarKind::kJsonObject;
  std::string text;
  std::vector<std::string> choices;
  // JSON kinds: no whitespace between tokens at all (vLLM's disable_any_whitespace).
  bool json_compact = false;

  // Equal specs compile to the same grammar.
  std::string cache_key() const;
  friend bool operator==(const GrammarSpec&, const GrammarSpec&) = default;
};

const char* grammar_kind_name(GrammarKind kind);  // "json_schema", "regex", ...

// The spec's grammar (not yet an automaton). Errors read like the frontends' ("schema at ...",
// "regex: ...", "line 3, column 2: ...").
Result<Grammar> build_grammar(const GrammarSpec& spec, const JsonSchemaOptions& json_options);

}  // namespace kiln::grammar
