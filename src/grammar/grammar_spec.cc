#include "grammar/grammar_spec.h"

#include "grammar/ebnf_parser.h"
#include "grammar/regex_parser.h"

namespace kiln::grammar {

const char* grammar_kind_name(GrammarKind kind) {
  switch (kind) {
    case GrammarKind::kJsonSchema: return "json_schema";
    case GrammarKind::kJsonObject: return "json_object";
    case GrammarKind::kRegex: return "regex";
    case GrammarKind::kChoice: return "choice";
    case GrammarKind::kEbnf: return "grammar";
  }
  return "unknown";
}

std::string GrammarSpec::cache_key() const {
  std::string key = grammar_kind_name(kind);
  key += json_compact ? "\1" : "\0";
  key += text;
  for (const std::string& c : choices) {
    key += '\0';
    key += std::to_string(c.size());
    key += ':';
    key += c;
  }
  return key;
}

Result<Grammar> build_grammar(const GrammarSpec& spec, const JsonSchemaOptions& options) {
  JsonSchemaOptions json_options = options;
  if (spec.json_compact) json_options.max_whitespace = 0;
  switch (spec.kind) {
    case GrammarKind::kJsonSchema: return json_schema_to_grammar(spec.text, json_options);
    case GrammarKind::kJsonObject: return json_object_grammar(json_options);
    case GrammarKind::kRegex: return regex_to_grammar(spec.text);
    case GrammarKind::kEbnf: return parse_ebnf(spec.text);
    case GrammarKind::kChoice: {
      if (spec.choices.empty()) return Status::error("choice needs at least one option");
      Grammar g;
      const RuleId root = g.add_rule("root");
      std::vector<ExprId> options;
      for (const std::string& c : spec.choices) options.push_back(g.bytes(c));
      g.set_body(root, g.choice(std::move(options)));
      g.set_root(root);
      return g;
    }
  }
  return Status::error("unknown grammar kind");
}

}  // namespace kiln::grammar
