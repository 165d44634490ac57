// The output constraint of a request, from the fields clients send for it: OpenAI's
// response_format (text, json_object, json_schema), vLLM's structured_outputs {json, regex,
// choice, grammar, json_object, disable_any_whitespace} and the older guided_json /
// guided_regex / guided_choice / guided_grammar (guided_decoding_backend and
// guided_whitespace_pattern are accepted and ignored). response_format wins over
// structured_outputs, which wins over guided_*, as in vLLM. Errors name the field.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "api/field_reader.h"
#include "grammar/grammar_spec.h"

namespace kiln::api {

struct OutputConstraint {
  grammar::GrammarSpec spec;
  std::string param;  // the field it came from, for errors found later (compiling the schema)
};

// The request body parsed again keeping member order: schemas are read from it, so that
// objects are generated with their properties in the order the schema lists them.
using OrderedJson = nlohmann::ordered_json;

// Reads the fields from the request body; errors go to `reader`. `ordered_body` (optional) is
// the same body parsed with member order kept.
std::optional<OutputConstraint> read_output_constraint(FieldReader& reader, const OrderedJson* ordered_body);

// The same value in the order-keeping body, as JSON text: `path` is its keys and indices from
// the top; the value itself (keys sorted) when the body is not there or lacks it.
std::string ordered_dump(const OrderedJson* ordered_body, std::initializer_list<std::string_view> path, const JsonIn& value);

}  // namespace kiln::api
