#include "grammar/json_schema.h"

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/json_number_range.h"
#include "grammar/json_string_formats.h"
#include "grammar/json_syntax_builder.h"
#include "grammar/regex_parser.h"

namespace kiln::grammar {
namespace {

using Json = nlohmann::ordered_json;

// Keywords a grammar cannot enforce; a schema using them is refused rather than half-obeyed.
const std::set<std::string> kUnsupported = {
    "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies",
    "patternProperties", "propertyNames", "minProperties", "maxProperties", "contains",
    "minContains", "maxContains", "multipleOf", "unevaluatedProperties", "unevaluatedItems",
    "$dynamicRef", "$recursiveRef"};
// Keywords that say nothing about valid values.
const std::set<std::string> kAnnotations = {
    "$schema", "$id", "$comment", "$anchor", "$defs", "definitions", "title", "description",
    "default", "examples", "deprecated", "readOnly", "writeOnly", "contentEncoding",
    "contentMediaType", "discriminator", "$vocabulary", "strict"};

constexpr double kMaxSafeBound = 1e15;  // bounds beyond this are treated as absent

std::string pointer_escape(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

bool is_validation_keyword(const std::string& key) { return !kAnnotations.count(key); }

// The schema's keywords to grammar, node by node; JSON's own syntax comes from JsonSyntaxBuilder.
// The first error is kept (with the JSON pointer of the node) and stops the walk.
class Converter {
 public:
  Converter(const Json& root, const JsonSchemaOptions& options) : root_(root), options_(options) {}

  Result<Grammar> convert() {
    const RuleId root = g_.add_rule("root");
    g_.set_root(root);
    ref_rules_["#"] = root;  // "$ref": "#" recurses into the whole schema
    const ExprId body = value(root_, "");
    if (!error_.ok()) return error_;
    g_.set_body(root, body);
    return std::move(g_);
  }

  Grammar any_object() {
    const RuleId root = g_.add_rule("root");
    g_.set_root(root);
    g_.set_body(root, json_.any_object());
    return std::move(g_);
  }

 private:
  ExprId fail(const std::string& path, const std::string& message) {
    if (error_.ok()) error_ = Status::error("schema at " + (path.empty() ? std::string("the root") : path) + ": " + message);
    return g_.empty();
  }

  ExprId literal_json(const Json& v) { return g_.bytes(v.dump()); }

  // ---- dispatch ----

  ExprId value(const Json& schema, const std::string& path) {
    if (!error_.ok()) return g_.empty();
    if (++depth_ > 200) return fail(path, "schema is nested too deeply");
    struct DepthGuard {
      int& d;
      ~DepthGuard() { --d; }
    } guard{depth_};
    if (schema.is_boolean()) return schema.get<bool>() ? json_.any_value() : fail(path, "the schema 'false' matches nothing");
    if (!schema.is_object()) return fail(path, "a schema must be an object or a boolean, got " + std::string(schema.type_name()));
    std::string unsupported;  // every one at this node, named in the error
    int num_unsupported = 0;
    for (const auto& [key, v] : schema.items()) {
      if (kUnsupported.count(key) || (key == "uniqueItems" && v.is_boolean() && v.get<bool>())) {
        unsupported += (num_unsupported++ ? ", '" : "'") + key + "'";
      }
    }
    if (num_unsupported > 0) {
      return fail(path, std::string(num_unsupported > 1 ? "unsupported keywords " : "unsupported keyword ") + unsupported);
    }
    if (schema.contains("$ref")) return reference(schema, path);
    if (schema.contains("allOf")) return all_of(schema, path);
    for (const char* combinator : {"anyOf", "oneOf"}) {
      if (schema.contains(combinator)) return any_of(schema, combinator, path);
    }
    if (schema.contains("const")) return literal_json(schema["const"]);
    if (schema.contains("enum")) return enumeration(schema, path);
    std::vector<std::string> types;
    if (schema.contains("type")) {
      const Json& t = schema["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const Json& item : t) {
          if (!item.is_string()) return fail(path + "/type", "type must be a string or a list of strings");
          types.push_back(item.get<std::string>());
        }
      } else {
        return fail(path + "/type", "type must be a string or a non-empty list of strings");
      }
    } else {
      types = inferred_types(schema);
      if (types.empty()) return json_.any_value();
    }
    std::vector<ExprId> choices;
    for (const std::string& type : types) choices.push_back(typed(schema, type, path));
    return g_.choice(std::move(choices));
  }

  static std::vector<std::string> inferred_types(const Json& schema) {
    auto has = [&](std::initializer_list<const char*> keys) {
      for (const char* k : keys) {
        if (schema.contains(k)) return true;
      }
      return false;
    };
    std::vector<std::string> types;
    if (has({"properties", "required", "additionalProperties"})) types.push_back("object");
    if (has({"items", "prefixItems", "minItems", "maxItems", "additionalItems"})) types.push_back("array");
    if (has({"minLength", "maxLength", "pattern", "format"})) types.push_back("string");
    if (has({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) types.push_back("number");
    return types;
  }

  ExprId typed(const Json& schema, const std::string& type, const std::string& path) {
    if (type == "null") return g_.bytes("null");
    if (type == "boolean") return g_.choice({g_.bytes("true"), g_.bytes("false")});
    if (type == "integer") return integer(schema, path);
    if (type == "number") return number(schema, path);
    if (type == "string") return string(schema, path);
    if (type == "array") return array(schema, path);
    if (type == "object") return object(schema, path);
    return fail(path + "/type", "unknown type '" + type + "'");
  }

  // ---- references and combinators ----

  ExprId reference(const Json& schema, const std::string& path) {
    for (const auto& [key, v] : schema.items()) {
      if (key != "$ref" && is_validation_keyword(key)) {
        return fail(path, "keyword '" + key + "' next to $ref is not supported (move it into the referenced schema)");
      }
    }
    if (!schema["$ref"].is_string()) return fail(path + "/$ref", "$ref must be a string");
    const std::string ref = schema["$ref"].get<std::string>();
    if (auto it = ref_rules_.find(ref); it != ref_rules_.end()) return g_.ref(it->second);
    const Json* target = resolve(ref);
    if (!target) return fail(path + "/$ref", "cannot resolve '" + ref + "' (only '#' and '#/...' pointers into this schema are supported)");
    std::string name = ref.substr(ref.rfind('/') + 1);
    const RuleId rule = g_.add_rule(name.empty() || name == "#" ? "ref" : name);
    ref_rules_[ref] = rule;
    const ExprId body = value(*target, ref.substr(1));
    g_.set_body(rule, body);
    return g_.ref(rule);
  }

  const Json* resolve(const std::string& ref) const {
    if (ref == "#") return &root_;
    if (ref.rfind("#/", 0) != 0) return nullptr;
    try {
      return &root_.at(Json::json_pointer(ref.substr(1)));
    } catch (const Json::exception&) {
      return nullptr;
    }
  }

  // The schema with `other`'s keywords added (properties and required merged).
  Json merged(Json base, const Json& other, const std::string& path) {
    for (const auto& [key, v] : other.items()) {
      if (key == "properties" && base.contains("properties") && v.is_object()) {
        for (const auto& [name, s] : v.items()) base["properties"][name] = s;
      } else if (key == "required" && base.contains("required") && v.is_array()) {
        for (const Json& name : v) base["required"].push_back(name);
      } else {
        base[key] = v;
      }
    }
    (void)path;
    return base;
  }

  ExprId all_of(const Json& schema, const std::string& path) {
    const Json& parts = schema["allOf"];
    if (!parts.is_array() || parts.size() != 1) return fail(path, "allOf is supported only with one schema");
    Json rest = schema;
    rest.erase("allOf");
    const Json* part = &parts[0];
    if (part->is_object() && part->contains("$ref") && (*part)["$ref"].is_string()) {
      bool rest_validates = false;
      for (const auto& [key, v] : rest.items()) rest_validates = rest_validates || is_validation_keyword(key);
      if (!rest_validates) return value(*part, path + "/allOf/0");
      part = resolve((*part)["$ref"].get<std::string>());
      if (!part) return fail(path + "/allOf/0/$ref", "cannot resolve the reference");
    }
    if (!part->is_object()) return fail(path + "/allOf/0", "must be an object");
    return value(merged(rest, *part, path), path);
  }

  ExprId any_of(const Json& schema, const char* keyword, const std::string& path) {
    const Json& branches = schema[keyword];
    if (!branches.is_array() || branches.empty()) return fail(path + "/" + keyword, std::string(keyword) + " must be a non-empty list");
    Json rest = schema;
    rest.erase(keyword);
    bool rest_validates = false;
    for (const auto& [key, v] : rest.items()) rest_validates = rest_validates || is_validation_keyword(key);
    std::vector<ExprId> choices;
    for (size_t i = 0; i < branches.size(); ++i) {
      const std::string branch_path = path + "/" + keyword + "/" + std::to_string(i);
      if (!rest_validates || !branches[i].is_object()) {
        choices.push_back(value(branches[i], branch_path));
      } else {
        choices.push_back(value(merged(rest, branches[i], branch_path), branch_path));
      }
    }
    return g_.choice(std::move(choices));
  }

  static bool has_type(const Json& v, const std::string& type) {
    if (type == "null") return v.is_null();
    if (type == "boolean") return v.is_boolean();
    if (type == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    if (type == "number") return v.is_number();
    if (type == "string") return v.is_string();
    if (type == "array") return v.is_array();
    if (type == "object") return v.is_object();
    return false;
  }

  // The listed values, less those the schema's type rules out.
  ExprId enumeration(const Json& schema, const std::string& path) {
    const Json& values = schema["enum"];
    if (!values.is_array() || values.empty()) return fail(path + "/enum", "enum must be a non-empty list");
    std::vector<std::string> types;
    if (schema.contains("type") && schema["type"].is_string()) types.push_back(schema["type"].get<std::string>());
    if (schema.contains("type") && schema["type"].is_array()) {
      for (const Json& t : schema["type"]) {
        if (t.is_string()) types.push_back(t.get<std::string>());
      }
    }
    std::vector<ExprId> choices;
    for (const Json& v : values) {
      bool fits = types.empty();
      for (const std::string& t : types) fits = fits || has_type(v, t);
      if (fits) choices.push_back(literal_json(v));
    }
    if (choices.empty()) return fail(path + "/enum", "no value of enum has the schema's type");
    return g_.choice(std::move(choices));
  }

  // ---- scalars ----

  std::optional<double> bound(const Json& schema, const char* key, const std::string& path) {
    if (!schema.contains(key)) return std::nullopt;
    const Json& v = schema[key];
    if (!v.is_number()) {
      fail(path + "/" + key, std::string(key) + " must be a number");
      return std::nullopt;
    }
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > kMaxSafeBound) return std::nullopt;
    return d;
  }

  // Lower and upper bounds, each with whether it is exclusive (draft 4's boolean form too).
  void bounds(const Json& schema, const std::string& path, std::optional<std::pair<double, bool>>* lo,
              std::optional<std::pair<double, bool>>* hi) {
    if (auto v = bound(schema, "minimum", path)) *lo = std::make_pair(*v, false);
    if (auto v = bound(schema, "maximum", path)) *hi = std::make_pair(*v, false);
    for (const auto& [key, target] : {std::make_pair("exclusiveMinimum", lo), std::make_pair("exclusiveMaximum", hi)}) {
      if (!schema.contains(key)) continue;
      if (schema[key].is_boolean()) {
        if (schema[key].get<bool>() && *target) (*target)->second = true;
      } else if (auto v = bound(schema, key, path)) {
        const bool is_lower = target == lo;
        if (!*target || (is_lower ? *v >= (*target)->first : *v <= (*target)->first)) *target = std::make_pair(*v, true);
      }
    }
  }

  ExprId integer(const Json& schema, const std::string& path) {
    std::optional<std::pair<double, bool>> lo, hi;
    bounds(schema, path, &lo, &hi);
    std::optional<int64_t> low, high;
    if (lo) {
      double v = std::ceil(lo->first);
      if (lo->second && v == lo->first) v += 1;
      low = static_cast<int64_t>(v);
    }
    if (hi) {
      double v = std::floor(hi->first);
      if (hi->second && v == hi->first) v -= 1;
      high = static_cast<int64_t>(v);
    }
    if (low && high && *low > *high) return fail(path, "no integer lies within its minimum and maximum");
    return integer_range(&g_, low, high);
  }

  ExprId number(const Json& schema, const std::string& path) {
    std::optional<std::pair<double, bool>> lo, hi;
    bounds(schema, path, &lo, &hi);
    if (!lo && !hi) return json_.number();
    // Fractional bounds are rounded inward to integers: every value generated satisfies them.
    std::optional<NumberBound> low, high;
    if (lo) {
      const double v = std::ceil(lo->first);
      low = NumberBound{static_cast<int64_t>(v), v == lo->first && lo->second};
    }
    if (hi) {
      const double v = std::floor(hi->first);
      high = NumberBound{static_cast<int64_t>(v), v == hi->first && hi->second};
    }
    const std::optional<ExprId> range = decimal_range(&g_, low, high);
    if (!range) return fail(path, "no number with an integer bound lies within its minimum and maximum (bounds between two integers are not supported)");
    return *range;
  }

  std::optional<int32_t> length(const Json& schema, const char* key, const std::string& path) {
    if (!schema.contains(key)) return std::nullopt;
    const Json& v = schema[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      fail(path + "/" + key, std::string(key) + " must be a non-negative integer");
      return std::nullopt;
    }
    if (v.get<int64_t>() > 100000) {
      fail(path + "/" + key, std::string(key) + " above 100000 is not supported");
      return std::nullopt;
    }
    return static_cast<int32_t>(v.get<int64_t>());
  }

  // A string matching `pattern`: a rule of its own, so that its states are classified once for
  // every field and every grammar that uses the same pattern.
  ExprId regex_string(const std::string& pattern, const std::string& path, const char* keyword) {
    if (auto it = pattern_rules_.find(pattern); it != pattern_rules_.end()) return g_.ref(it->second);
    RegexOptions options;
    options.json_string = true;
    auto content = parse_regex(pattern, &g_, options);
    if (!content.ok()) return fail(path + "/" + keyword, content.message());
    const RuleId rule = g_.add_rule(keyword);
    g_.set_keep(rule);
    g_.set_body(rule, g_.sequence({g_.bytes("\""), *content, g_.bytes("\"")}));
    pattern_rules_[pattern] = rule;
    return g_.ref(rule);
  }

  ExprId string(const Json& schema, const std::string& path) {
    const std::optional<int32_t> min = length(schema, "minLength", path);
    const std::optional<int32_t> max = length(schema, "maxLength", path);
    if (min && max && *min > *max) return fail(path, "minLength is larger than maxLength");
    const bool has_length = min || max;
    if (schema.contains("pattern")) {
      if (!schema["pattern"].is_string()) return fail(path + "/pattern", "pattern must be a string");
      if (has_length) return fail(path, "pattern together with minLength/maxLength is not supported");
      return regex_string(schema["pattern"].get<std::string>(), path, "pattern");
    }
    if (schema.contains("format") && schema["format"].is_string()) {
      if (auto regex = string_format_regex(schema["format"].get<std::string>())) {
        if (has_length) return fail(path, "format together with minLength/maxLength is not supported");
        return regex_string(*regex, path, "format");
      }
    }
    return json_.string(min.value_or(0), max.value_or(kUnbounded));
  }

  // ---- arrays and objects ----

  ExprId array(const Json& schema, const std::string& path) {
    std::vector<const Json*> prefix;
    std::vector<std::string> prefix_paths;
    const Json* items = nullptr;  // the schema of the items after the prefix; null: none allowed
    std::string items_path = path + "/items";
    static const Json kTrue = true;
    items = &kTrue;
    auto read_prefix = [&](const Json& list, const char* key) {
      for (size_t i = 0; i < list.size(); ++i) {
        prefix.push_back(&list[i]);
        prefix_paths.push_back(path + "/" + key + "/" + std::to_string(i));
      }
    };
    if (schema.contains("prefixItems")) {
      if (!schema["prefixItems"].is_array()) return fail(path + "/prefixItems", "prefixItems must be a list");
      read_prefix(schema["prefixItems"], "prefixItems");
      if (schema.contains("items")) items = &schema["items"];
    } else if (schema.contains("items") && schema["items"].is_array()) {  // draft 4-7 tuples
      read_prefix(schema["items"], "items");
      items = schema.contains("additionalItems") ? &schema["additionalItems"] : &kTrue;
      items_path = path + "/additionalItems";
    } else if (schema.contains("items")) {
      items = &schema["items"];
    }
    if (items->is_boolean() && !items->get<bool>()) items = nullptr;
    const int32_t min = length(schema, "minItems", path).value_or(0);
    std::optional<int32_t> max = length(schema, "maxItems", path);
    if (!items) max = std::min<int32_t>(max.value_or(static_cast<int32_t>(prefix.size())), static_cast<int32_t>(prefix.size()));
    if (max && min > *max) return fail(path, "minItems is larger than maxItems (or than the items allowed)");
    if (!error_.ok()) return g_.empty();

    const ExprId sep = json_.separator(",");
    const ExprId item = items ? value(*items, items_path) : g_.empty();
    auto element = [&](size_t i) { return i < prefix.size() ? value(*prefix[i], prefix_paths[i]) : item; };
    // Elements i.. as nested optionals; beyond the prefix the item repeats.
    std::function<ExprId(int32_t)> tail = [&](int32_t i) -> ExprId {  // elements with index >= i, after element i - 1
      if (max && i >= *max) return g_.empty();
      if (static_cast<size_t>(i) >= prefix.size()) {
        const int32_t at_least = std::max(0, min - i);
        const int32_t at_most = max ? *max - i : kUnbounded;
        return g_.repeat(g_.sequence({sep, item}), at_least, at_most);
      }
      const ExprId next = g_.sequence({sep, element(static_cast<size_t>(i)), tail(i + 1)});
      return i < min ? next : g_.optional(next);
    };
    if (max && *max == 0) return g_.sequence({g_.bytes("["), json_.whitespace(), g_.bytes("]")});
    const ExprId elements = g_.sequence({element(0), tail(1)});
    return g_.sequence({g_.bytes("["), json_.whitespace(), min > 0 ? elements : g_.optional(elements), json_.whitespace(), g_.bytes("]")});
  }


  ExprId object(const Json& schema, const std::string& path) {
    static const Json kEmpty = Json::object();
    const Json& properties = schema.contains("properties") ? schema["properties"] : kEmpty;
    if (!properties.is_object()) return fail(path + "/properties", "properties must be an object");
    std::set<std::string> required;
    if (schema.contains("required")) {
      if (!schema["required"].is_array()) return fail(path + "/required", "required must be a list of names");
      for (const Json& name : schema["required"]) {
        if (!name.is_string()) return fail(path + "/required", "required must be a list of names");
        required.insert(name.get<std::string>());
      }
    }
    // additionalProperties: absent means none when properties are listed, any otherwise.
    const Json* additional = nullptr;
    static const Json kTrue = true;
    if (schema.contains("additionalProperties")) {
      const Json& a = schema["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>())) additional = &a;
    } else if (properties.empty()) {
      additional = &kTrue;
    }
    std::vector<ExprId> items;
    std::vector<uint8_t> is_required;
    std::vector<std::string> names;
    auto member = [&](const std::string& name, const Json& value_schema, const std::string& value_path) {
      names.push_back(name);
      items.push_back(g_.sequence({literal_json(Json(name)), json_.separator(":"), value(value_schema, value_path)}));
      is_required.push_back(required.count(name) ? 1 : 0);
    };
    for (const auto& [name, s] : properties.items()) member(name, s, path + "/properties/" + pointer_escape(name));
    for (const std::string& name : required) {
      if (properties.contains(name)) continue;
      if (!additional) return fail(path + "/required", "required property '" + name + "' is not in properties and additionalProperties is false");
      member(name, *additional, path + "/additionalProperties");
    }
    ExprId rest = -1;
    if (additional) {
      rest = g_.sequence({json_.key_not_in(names), json_.separator(":"), value(*additional, path + "/additionalProperties")});
    }
    const ExprId members = g_.subsequence(std::move(items), std::move(is_required), json_.separator(","), rest);
    return g_.sequence({g_.bytes("{"), json_.whitespace(), members, json_.whitespace(), g_.bytes("}")});
  }

  const Json& root_;
  const JsonSchemaOptions& options_;
  Grammar g_;
  JsonSyntaxBuilder json_{&g_, options_.max_whitespace};
  Status error_;
  int depth_ = 0;
  std::map<std::string, RuleId> ref_rules_;
  std::map<std::string, RuleId> pattern_rules_;
};

}  // namespace

Result<Grammar> json_schema_to_grammar(std::string_view schema_json, const JsonSchemaOptions& options) {
  Json schema;
  try {
    schema = Json::parse(schema_json.begin(), schema_json.end());
  } catch (const Json::exception& e) {
    std::string what = e.what();
    if (const size_t pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return Status::error("schema is not valid JSON: " + what);
  }
  return Converter(schema, options).convert();
}

Grammar json_object_grammar(const JsonSchemaOptions& options) {
  static const Json kNone;
  return Converter(kNone, options).any_object();
}

}  // namespace kiln::grammar
