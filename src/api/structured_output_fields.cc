#include "api/structured_output_fields.h"

#include <vector>

namespace kiln::api {
namespace {

using grammar::GrammarKind;

// A schema given as an object (or a boolean schema) or as JSON text. `ordered` is the same
// value with its member order (may be null).
std::optional<std::string> schema_text(FieldReader& reader, const JsonIn& value, const std::string& param,
                                       const OrderedJson* ordered) {
  if (value.is_object() || value.is_boolean()) return ordered ? ordered->dump() : value.dump();
  if (value.is_string()) {
    try {
      const OrderedJson parsed = OrderedJson::parse(value.get<std::string>());
      if (parsed.is_object() || parsed.is_boolean()) return parsed.dump();
    } catch (const OrderedJson::exception&) {
    }
    reader.fail(bad_request("'" + param + "' must be a JSON Schema (an object, or its JSON text)", param));
    return std::nullopt;
  }
  reader.fail(bad_request("'" + param + "' must be a JSON Schema object, got " + json_kind_name(value), param));
  return std::nullopt;
}

std::optional<std::vector<std::string>> choices(FieldReader& reader, const JsonIn& value, const std::string& param) {
  if (!value.is_array() || value.empty()) {
    reader.fail(bad_request("'" + param + "' must be a non-empty list of strings", param));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const JsonIn& c : value) {
    if (!c.is_string()) {
      reader.fail(bad_request("'" + param + "' must be a non-empty list of strings, got " + json_kind_name(c) + " in it", param));
      return std::nullopt;
    }
    out.push_back(c.get<std::string>());
  }
  return out;
}

std::optional<std::string> text_field(FieldReader& reader, const JsonIn& value, const std::string& param) {
  if (!value.is_string()) {
    reader.fail(bad_request("'" + param + "' must be a string, got " + json_kind_name(value), param));
    return std::nullopt;
  }
  return value.get<std::string>();
}

// One constraint from an object of {json, regex, choice, grammar, json_object} (structured
// outputs) or the request's guided_* fields: `names` are the field names for each kind.
struct KindNames {
  const char* json;
  const char* regex;
  const char* choice;
  const char* grammar;
  const char* json_object;  // may be null
};

std::optional<OutputConstraint> read_kinds(FieldReader& reader, const JsonIn& object, const KindNames& names,
                                           const std::string& prefix, const std::string& too_many,
                                           const OrderedJson* ordered_object) {
  std::optional<OutputConstraint> out;
  int count = 0;
  auto field = [&](const char* name) -> const JsonIn* {
    if (!name) return nullptr;
    auto it = object.find(name);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
  };
  const std::string json_param = prefix + names.json, regex_param = prefix + names.regex, choice_param = prefix + names.choice,
                    grammar_param = prefix + names.grammar;
  if (const JsonIn* v = field(names.json)) {
    ++count;
    const OrderedJson* ordered = nullptr;
    if (ordered_object && ordered_object->is_object() && ordered_object->contains(names.json)) ordered = &(*ordered_object)[names.json];
    if (auto text = schema_text(reader, *v, json_param, ordered)) out = OutputConstraint{{GrammarKind::kJsonSchema, *text, {}}, json_param};
  }
  if (const JsonIn* v = field(names.regex)) {
    ++count;
    if (auto text = text_field(reader, *v, regex_param)) out = OutputConstraint{{GrammarKind::kRegex, *text, {}}, regex_param};
  }
  if (const JsonIn* v = field(names.choice)) {
    ++count;
    if (auto list = choices(reader, *v, choice_param)) out = OutputConstraint{{GrammarKind::kChoice, "", *list}, choice_param};
  }
  if (const JsonIn* v = field(names.grammar)) {
    ++count;
    if (auto text = text_field(reader, *v, grammar_param)) out = OutputConstraint{{GrammarKind::kEbnf, *text, {}}, grammar_param};
  }
  if (const JsonIn* v = field(names.json_object)) {
    if (!v->is_boolean()) {
      reader.fail(bad_request("'" + prefix + names.json_object + "' must be a boolean, got " + json_kind_name(*v), prefix + names.json_object));
    } else if (v->get<bool>()) {
      ++count;
      out = OutputConstraint{{GrammarKind::kJsonObject, "", {}}, prefix + names.json_object};
    }
  }
  if (count > 1) {
    reader.fail(bad_request(too_many, prefix.empty() ? std::string(names.json) : prefix.substr(0, prefix.size() - 1)));
    return std::nullopt;
  }
  return out;
}

std::optional<OutputConstraint> read_response_format(FieldReader& reader, const JsonIn& format, const OrderedJson* ordered_body) {
  if (!format.is_object()) {
    reader.fail(bad_request("'response_format' must be an object, got " + json_kind_name(format), "response_format"));
    return std::nullopt;
  }
  auto type = format.find("type");
  if (type == format.end() || !type->is_string()) {
    reader.fail(bad_request("'response_format.type' must be one of 'text', 'json_object', 'json_schema'", "response_format.type"));
    return std::nullopt;
  }
  const std::string kind = type->get<std::string>();
  if (kind == "text") return std::nullopt;
  if (kind == "json_object") return OutputConstraint{{GrammarKind::kJsonObject, "", {}}, "response_format"};
  if (kind == "json_schema") {
    auto json_schema = format.find("json_schema");
    if (json_schema == format.end() || json_schema->is_null()) {
      reader.fail(bad_request("When response_format type is 'json_schema', the 'json_schema' field must be provided.", "response_format"));
      return std::nullopt;
    }
    if (!json_schema->is_object()) {
      reader.fail(bad_request("'response_format.json_schema' must be an object, got " + json_kind_name(*json_schema),
                              "response_format.json_schema"));
      return std::nullopt;
    }
    auto schema = json_schema->find("schema");
    if (schema == json_schema->end() || schema->is_null()) {
      reader.fail(bad_request("'response_format.json_schema.schema' is required", "response_format.json_schema.schema"));
      return std::nullopt;
    }
    const OrderedJson* ordered = nullptr;
    if (ordered_body) {
      const OrderedJson::json_pointer pointer("/response_format/json_schema/schema");
      if (ordered_body->contains(pointer)) ordered = &(*ordered_body)[pointer];
    }
    if (auto text = schema_text(reader, *schema, "response_format.json_schema.schema", ordered)) {
      return OutputConstraint{{GrammarKind::kJsonSchema, *text, {}}, "response_format.json_schema.schema"};
    }
    return std::nullopt;
  }
  reader.fail(bad_request("response_format type '" + kind + "' is not supported: use 'text', 'json_object' or 'json_schema'",
                          "response_format.type"));
  return std::nullopt;
}

}  // namespace

std::string ordered_dump(const OrderedJson* ordered_body, std::initializer_list<std::string_view> path, const JsonIn& value) {
  const OrderedJson* at = ordered_body;
  for (std::string_view step : path) {
    if (!at) break;
    if (at->is_object()) {
      auto it = at->find(std::string(step));
      at = it == at->end() ? nullptr : &*it;
    } else if (at->is_array()) {
      const size_t index = static_cast<size_t>(std::stoul(std::string(step)));
      at = index < at->size() ? &(*at)[index] : nullptr;
    } else {
      at = nullptr;
    }
  }
  return at ? at->dump() : value.dump();
}

std::optional<OutputConstraint> read_output_constraint(FieldReader& reader, const OrderedJson* ordered_body) {
  if (!reader.ok()) return std::nullopt;
  std::optional<OutputConstraint> out;
  // The older guided_* fields, superseded by structured_outputs.
  {
    JsonIn guided = JsonIn::object();
    for (const char* name : {"guided_json", "guided_regex", "guided_choice", "guided_grammar"}) {
      if (const JsonIn* v = reader.get(name)) guided[name] = *v;
    }
    out = read_kinds(reader, guided, {"guided_json", "guided_regex", "guided_choice", "guided_grammar", nullptr}, "",
                     "You can only use one kind of guided decoding ('guided_json', 'guided_regex', 'guided_choice', 'guided_grammar').",
                     ordered_body);
  }
  if (const JsonIn* so = reader.get("structured_outputs")) {
    if (!so->is_object()) {
      reader.fail(bad_request("'structured_outputs' must be an object, got " + json_kind_name(*so), "structured_outputs"));
      return std::nullopt;
    }
    if (so->contains("structural_tag") && !(*so)["structural_tag"].is_null()) {
      reader.fail(bad_request("'structured_outputs.structural_tag' is not supported", "structured_outputs.structural_tag"));
      return std::nullopt;
    }
    const OrderedJson* ordered_so = ordered_body && ordered_body->contains("structured_outputs") ? &(*ordered_body)["structured_outputs"] : nullptr;
    if (auto constraint = read_kinds(reader, *so, {"json", "regex", "choice", "grammar", "json_object"}, "structured_outputs.",
                                     "You can only use one kind of constraints for structured outputs ('json', 'regex' or 'choice').",
                                     ordered_so)) {
      out = constraint;
    }
    auto compact = so->find("disable_any_whitespace");
    if (out && compact != so->end() && compact->is_boolean()) out->spec.json_compact = compact->get<bool>();
  }
  if (const JsonIn* format = reader.get("response_format")) {
    if (auto constraint = read_response_format(reader, *format, ordered_body)) out = constraint;
  }
  if (!reader.ok()) return std::nullopt;
  return out;
}

}  // namespace kiln::api
