// JSON Schema to grammar, for response_format json_schema / json_object and structured outputs'
// `json`. The generated JSON is compact or spaced as the model likes: between tokens up to
// `max_whitespace` of space, newline and tab (XGrammar's whitespace set, bounded so that a model
// cannot loop on whitespace), object members in the schema's order.
//
// Supported: type (and unions), enum, const, properties, required, additionalProperties (false
// when absent and properties are listed, as XGrammar's strict mode), items, prefixItems (and the
// older array form of items with additionalItems), minItems, maxItems, minLength, maxLength,
// pattern, format (date, time, date-time, uuid, email, ipv4, ipv6, hostname, uri; other formats
// are annotations), minimum, maximum, exclusiveMinimum, exclusiveMaximum (fractional bounds on
// numbers are rounded inward to integers), $ref into the same document with $defs or
// definitions (recursion included), anyOf, oneOf (generated as anyOf), allOf with one schema,
// and the annotations (title, description, default, examples, ...). Keywords that constrain
// values in ways a grammar cannot (not, if/then/else, uniqueItems, multipleOf,
// patternProperties, propertyNames, min/maxProperties, contains, dependent*, unevaluated*) give
// an error naming the keyword and where it is.
#pragma once

#include <string_view>

#include "base/status.h"
#include "grammar/grammar.h"

namespace kiln::grammar {

struct JsonSchemaOptions {
  int max_whitespace = 20;  // per gap between tokens; kUnbounded: no limit
};

// Errors read "schema at /properties/age: unsupported keyword 'multipleOf'".
Result<Grammar> json_schema_to_grammar(std::string_view schema_json, const JsonSchemaOptions& options = {});

// Any JSON object (response_format {"type": "json_object"}).
Grammar json_object_grammar(const JsonSchemaOptions& options = {});

}  // namespace kiln::grammar
