#!/usr/bin/env python3
"""Writes tests/grammar/corpus/schemas.json: the JSON Schema corpus of the structured-output
tests (tests/grammar/run.sh). Hand-written schemas of the kinds applications send (pydantic and
zod output, tool parameters, API payloads) plus systematic variations that cover every keyword
the grammar supports, each on its own and in combination. Schemas marked draft-07 use that
draft's forms (definitions, tuple items with additionalItems) and are validated as draft-07;
the rest as 2020-12. oneOf branches are mutually exclusive, so that outputs of any branch
validate."""
import json
import os
import sys

DRAFT7 = "http://json-schema.org/draft-07/schema#"
corpus = []


def add(name, schema):
    corpus.append({"name": name, "schema": schema})


# ---- scalars, one keyword at a time ----
for t in ["string", "integer", "number", "boolean", "null"]:
    add(f"type-{t}", {"type": t})
add("type-union-string-null", {"type": ["string", "null"]})
add("type-union-number-boolean", {"type": ["number", "boolean"]})
add("type-union-all-scalars", {"type": ["string", "integer", "boolean", "null"]})
add("any-value", {})
add("true-schema", True)
for lo, hi in [(None, 10), (0, None), (-5, 5), (1, 1), (100, 999), (-1000, -10), (0, 1)]:
    s = {"type": "integer"}
    if lo is not None: s["minimum"] = lo
    if hi is not None: s["maximum"] = hi
    add(f"integer-{lo}-{hi}", s)
for lo, hi in [(0, 1), (-1, 1), (0, None), (None, 100), (2, 3), (-50, -2)]:
    s = {"type": "number"}
    if lo is not None: s["minimum"] = lo
    if hi is not None: s["maximum"] = hi
    add(f"number-{lo}-{hi}", s)
add("integer-exclusive", {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10})
add("number-exclusive", {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1})
add("number-exclusive-min-only", {"type": "number", "exclusiveMinimum": -3})
add("number-fractional-bounds", {"type": "number", "minimum": 0.5, "maximum": 9.75})
add("integer-fractional-bounds", {"type": "integer", "minimum": -2.5, "maximum": 7.2})
for lo, hi in [(0, 5), (1, None), (3, 3), (None, 12), (10, 40), (0, 0)]:
    s = {"type": "string"}
    if lo is not None: s["minLength"] = lo
    if hi is not None: s["maxLength"] = hi
    add(f"string-length-{lo}-{hi}", s)
for i, p in enumerate(["^[a-z]+$", "^[A-Z]{2,3}-[0-9]{4}$", "^(red|green|blue)$", "^\\d{3}-\\d{3}-\\d{4}$",
                       "^[a-zA-Z0-9_]{3,16}$", "^#[0-9a-fA-F]{6}$", "^v\\d+\\.\\d+\\.\\d+$", "^[^\\s@]+$",
                       "^(\\+|-)?\\d+(\\.\\d+)?$", "^[\\w.-]+\\.(png|jpg|gif)$", "^\"quoted\"$", "^a\\\\b$"]):
    add(f"string-pattern-{i}", {"type": "string", "pattern": p})
for f in ["date", "time", "date-time", "uuid", "email", "ipv4", "ipv6", "hostname", "uri"]:
    add(f"string-format-{f}", {"type": "string", "format": f})
add("string-format-unknown", {"type": "string", "format": "x-custom"})
add("enum-strings", {"enum": ["red", "green", "blue"]})
add("enum-mixed", {"enum": ["a", 1, 2.5, True, None, [1, 2], {"k": "v"}]})
add("enum-with-type", {"type": "string", "enum": ["x", "y", 3]})
add("enum-unicode", {"enum": ["café", "naïve", "日本", "emoji 😀", "quote\"d", "back\\slash", "tab\there"]})
add("const-string", {"const": "fixed"})
add("const-object", {"const": {"a": [1, {"b": None}]}})
add("const-number", {"const": 42})

# ---- arrays ----
add("array-any", {"type": "array"})
add("array-of-strings", {"type": "array", "items": {"type": "string"}})
add("array-of-integers-bounded", {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 5})
add("array-min-items", {"type": "array", "items": {"type": "boolean"}, "minItems": 3})
add("array-max-items", {"type": "array", "items": {"type": "number"}, "maxItems": 2})
add("array-exactly-one", {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 1})
add("array-empty-only", {"type": "array", "maxItems": 0})
add("array-prefix-items", {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False})
add("array-prefix-then-items", {"type": "array", "prefixItems": [{"const": "head"}], "items": {"type": "number"}, "maxItems": 4})
add("array-prefix-min", {"type": "array", "prefixItems": [{"type": "boolean"}, {"type": "null"}, {"type": "string"}], "minItems": 2, "items": False})
add("array-nested", {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}, "maxItems": 3})
add("array-of-objects", {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"}}, "required": ["id"]}})
add("draft7-tuple", {"$schema": DRAFT7, "type": "array", "items": [{"type": "string"}, {"type": "number"}], "additionalItems": False})
add("draft7-tuple-additional", {"$schema": DRAFT7, "type": "array", "items": [{"const": 1}], "additionalItems": {"type": "string"}, "maxItems": 3})
add("array-unique-false", {"type": "array", "items": {"type": "integer"}, "uniqueItems": False, "maxItems": 4})

# ---- objects ----
add("object-any", {"type": "object"})
add("object-empty-closed", {"type": "object", "additionalProperties": False})
add("object-one-required", {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
add("object-all-optional", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}, "c": {"type": "null"}}})
add("object-mixed-required", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}, "d": {"type": "number"}},
                              "required": ["b", "d"]})
add("object-additional-true", {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": True})
add("object-additional-schema", {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": {"type": "integer"}})
add("object-additional-only", {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}})
add("object-required-not-listed", {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a", "extra"], "additionalProperties": {"type": "boolean"}})
add("object-nested", {"type": "object", "properties": {"outer": {"type": "object", "properties": {"inner": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}, "required": ["inner"]}}, "required": ["outer"]})
add("object-unicode-keys", {"type": "object", "properties": {"naïve": {"type": "integer"}, "日本語": {"type": "string"}, "with space": {"type": "boolean"}, "quo\"te": {"type": "null"}}, "required": ["naïve"]})
add("object-keys-sharing-prefixes", {"type": "object", "properties": {"a": {"type": "integer"}, "ab": {"type": "integer"}, "abc": {"type": "integer"}}, "additionalProperties": {"type": "null"}})
add("object-inferred-type", {"properties": {"x": {"type": "integer"}}, "required": ["x"]})
add("array-inferred-type", {"items": {"type": "string"}, "maxItems": 2})
add("string-inferred-type", {"maxLength": 4})
add("number-inferred-type", {"minimum": 3, "maximum": 8})

# ---- combinators and references ----
add("anyof-scalars", {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 0}]})
add("anyof-nullable-object", {"anyOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"type": "null"}]})
add("oneof-discriminated", {"oneOf": [
    {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number", "minimum": 0}}, "required": ["kind", "r"], "additionalProperties": False},
    {"type": "object", "properties": {"kind": {"const": "square"}, "side": {"type": "number", "minimum": 0}}, "required": ["kind", "side"], "additionalProperties": False}]})
add("oneof-disjoint-types", {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "array", "items": {"type": "boolean"}}]})
add("anyof-with-shared-keywords", {"type": "object", "properties": {"common": {"type": "string"}}, "required": ["common"],
                                   "anyOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]})
add("allof-single-ref", {"$defs": {"Base": {"type": "object", "properties": {"v": {"type": "integer"}}, "required": ["v"]}}, "allOf": [{"$ref": "#/$defs/Base"}], "description": "wrapped"})
add("allof-single-inline", {"allOf": [{"type": "string", "minLength": 2, "maxLength": 4}]})
add("ref-defs", {"$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}},
                 "type": "object", "properties": {"from": {"$ref": "#/$defs/Point"}, "to": {"$ref": "#/$defs/Point"}}, "required": ["from", "to"]})
add("draft7-definitions", {"$schema": DRAFT7, "definitions": {"Tag": {"type": "string", "pattern": "^[a-z]{1,8}$"}},
                           "type": "array", "items": {"$ref": "#/definitions/Tag"}, "maxItems": 4})
add("ref-recursive-tree", {"$defs": {"Node": {"type": "object", "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}, "maxItems": 2}},
                                             "required": ["value"]}}, "$ref": "#/$defs/Node"})
add("ref-recursive-list", {"$defs": {"Cell": {"type": "object", "properties": {"head": {"type": "string", "maxLength": 4}, "tail": {"anyOf": [{"$ref": "#/$defs/Cell"}, {"type": "null"}]}},
                                             "required": ["head", "tail"]}}, "$ref": "#/$defs/Cell"})
add("ref-root-recursion", {"type": "object", "properties": {"name": {"type": "string", "maxLength": 6}, "sub": {"$ref": "#"}}, "required": ["name"]})
add("ref-pointer-into-properties", {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5}, "b": {"$ref": "#/properties/a"}}, "required": ["a", "b"]})
add("ref-mutual-recursion", {"$defs": {"Expr": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/Op"}]},
                                       "Op": {"type": "object", "properties": {"op": {"enum": ["+", "*"]}, "args": {"type": "array", "items": {"$ref": "#/$defs/Expr"}, "minItems": 2, "maxItems": 2}},
                                              "required": ["op", "args"], "additionalProperties": False}}, "$ref": "#/$defs/Expr"})
add("annotations-everywhere", {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://example.com/s", "title": "T", "description": "D", "$comment": "c",
                               "type": "object", "properties": {"x": {"type": "integer", "title": "X", "default": 3, "examples": [1, 2], "deprecated": True, "readOnly": True}}, "required": ["x"]})

# ---- realistic schemas ----
add("pydantic-user", {"$defs": {"Address": {"properties": {"street": {"title": "Street", "type": "string"}, "city": {"title": "City", "type": "string"}, "zip": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Zip"}},
                                            "required": ["street", "city"], "title": "Address", "type": "object"}},
                      "properties": {"name": {"title": "Name", "type": "string"}, "age": {"minimum": 0, "title": "Age", "type": "integer"}, "email": {"format": "email", "title": "Email", "type": "string"},
                                     "address": {"$ref": "#/$defs/Address"}, "tags": {"items": {"type": "string"}, "title": "Tags", "type": "array"},
                                     "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Nickname"}},
                      "required": ["name", "age", "email", "address"], "title": "User", "type": "object"})
add("zod-product", {"$schema": DRAFT7, "type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string", "minLength": 1},
                    "price": {"type": "number", "exclusiveMinimum": 0}, "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]}, "in_stock": {"type": "boolean"},
                    "dimensions": {"type": "object", "properties": {"w": {"type": "number"}, "h": {"type": "number"}}, "required": ["w", "h"], "additionalProperties": False}},
                    "required": ["id", "name", "price", "currency", "in_stock"], "additionalProperties": False})
add("tool-get-weather", {"type": "object", "properties": {"location": {"type": "string", "description": "City and country, e.g. Paris, France"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                         "required": ["location"], "additionalProperties": False})
add("tool-search", {"type": "object", "properties": {"query": {"type": "string"}, "max_results": {"type": "integer", "minimum": 1, "maximum": 50}, "site": {"type": ["string", "null"]}}, "required": ["query"]})
add("tool-send-email", {"type": "object", "properties": {"to": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1, "maxItems": 3}, "subject": {"type": "string", "maxLength": 60},
                        "body": {"type": "string"}, "cc": {"type": "array", "items": {"type": "string", "format": "email"}}}, "required": ["to", "subject", "body"], "additionalProperties": False})
add("tool-calendar", {"type": "object", "properties": {"title": {"type": "string"}, "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
                      "attendees": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}}, "required": ["email"]}},
                      "all_day": {"type": "boolean"}}, "required": ["title", "start"]})
add("openai-structured-math", {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "object", "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}},
                               "required": ["explanation", "output"], "additionalProperties": False}}, "final_answer": {"type": "string"}}, "required": ["steps", "final_answer"], "additionalProperties": False})
add("classification", {"type": "object", "properties": {"label": {"enum": ["positive", "negative", "neutral"]}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}}, "required": ["label", "confidence"]})
add("entity-extraction", {"type": "object", "properties": {"entities": {"type": "array", "items": {"type": "object", "properties": {"text": {"type": "string"}, "type": {"enum": ["PERSON", "ORG", "LOC", "DATE"]},
                          "start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 0}}, "required": ["text", "type"]}}}, "required": ["entities"]})
add("github-issue", {"type": "object", "properties": {"title": {"type": "string", "maxLength": 80}, "body": {"type": "string"}, "labels": {"type": "array", "items": {"enum": ["bug", "feature", "docs", "question"]}, "maxItems": 3},
                     "assignee": {"anyOf": [{"type": "string", "pattern": "^[a-zA-Z0-9-]{1,39}$"}, {"type": "null"}]}, "milestone": {"type": "integer", "minimum": 1}}, "required": ["title", "labels"]})
add("order", {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{6}$"}, "customer": {"type": "object", "properties": {"name": {"type": "string"}, "phone": {"type": "string", "pattern": "^\\+[0-9]{7,12}$"}},
              "required": ["name"]}, "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1, "maximum": 99}, "price": {"type": "number", "minimum": 0}},
              "required": ["sku", "qty"]}, "minItems": 1, "maxItems": 4}, "placed": {"type": "string", "format": "date"}, "status": {"enum": ["new", "paid", "shipped"]}}, "required": ["order_id", "items", "status"]})
add("config-file", {"type": "object", "properties": {"version": {"const": 2}, "server": {"type": "object", "properties": {"host": {"type": "string", "format": "hostname"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "tls": {"type": "boolean"}}, "required": ["host", "port"]}, "features": {"type": "object", "additionalProperties": {"type": "boolean"}}, "log_level": {"enum": ["debug", "info", "warn", "error"]}}, "required": ["version", "server"]})
add("geojson-point", {"type": "object", "properties": {"type": {"const": "Point"}, "coordinates": {"type": "array", "prefixItems": [{"type": "number", "minimum": -180, "maximum": 180}, {"type": "number", "minimum": -90, "maximum": 90}],
                      "items": False, "minItems": 2}}, "required": ["type", "coordinates"]})
add("recipe", {"type": "object", "properties": {"name": {"type": "string"}, "servings": {"type": "integer", "minimum": 1, "maximum": 12}, "ingredients": {"type": "array", "items": {"type": "object", "properties": {
               "item": {"type": "string"}, "amount": {"type": "number", "exclusiveMinimum": 0}, "unit": {"enum": ["g", "kg", "ml", "l", "cup", "tbsp", "tsp", "piece"]}}, "required": ["item", "amount", "unit"]}, "minItems": 1},
               "steps": {"type": "array", "items": {"type": "string"}, "minItems": 1}, "vegetarian": {"type": "boolean"}}, "required": ["name", "ingredients", "steps"]})
add("movie-review", {"type": "object", "properties": {"movie": {"type": "string"}, "year": {"type": "integer", "minimum": 1888, "maximum": 2030}, "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                     "pros": {"type": "array", "items": {"type": "string"}}, "cons": {"type": "array", "items": {"type": "string"}}, "verdict": {"type": "string", "maxLength": 140}}, "required": ["movie", "rating"]})
add("log-event", {"type": "object", "properties": {"ts": {"type": "string", "format": "date-time"}, "level": {"enum": ["DEBUG", "INFO", "WARN", "ERROR"]}, "msg": {"type": "string"},
                  "ip": {"type": "string", "format": "ipv4"}, "request_id": {"type": "string", "format": "uuid"}, "latency_ms": {"type": "number", "minimum": 0}}, "required": ["ts", "level", "msg"]})
add("sql-plan", {"type": "object", "properties": {"tables": {"type": "array", "items": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"}, "minItems": 1, "maxItems": 3},
                 "query": {"type": "string"}, "explain": {"type": "boolean"}}, "required": ["tables", "query"], "additionalProperties": False})
add("multilingual", {"type": "object", "properties": {"en": {"type": "string"}, "fr": {"type": "string"}, "ja": {"type": "string"}, "emoji": {"type": "string", "maxLength": 3}}, "required": ["en", "ja"]})
add("matrix", {"type": "object", "properties": {"rows": {"type": "integer", "minimum": 1, "maximum": 3}, "data": {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3}, "minItems": 1, "maxItems": 3}}, "required": ["data"]})
add("person-with-friends", {"$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}, "friends": {"type": "array", "items": {"$ref": "#/$defs/Person"}, "maxItems": 2}},
                                                "required": ["name"], "additionalProperties": False}}, "type": "object", "properties": {"me": {"$ref": "#/$defs/Person"}}, "required": ["me"]})
add("feature-flags", {"type": "object", "additionalProperties": {"type": "object", "properties": {"enabled": {"type": "boolean"}, "rollout": {"type": "integer", "minimum": 0, "maximum": 100}}, "required": ["enabled"]}})
add("key-value-pairs", {"type": "array", "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": ["string", "number", "boolean", "null"]}], "items": False, "minItems": 2}, "maxItems": 5})
add("event-union", {"oneOf": [
    {"type": "object", "properties": {"type": {"const": "click"}, "x": {"type": "integer"}, "y": {"type": "integer"}}, "required": ["type", "x", "y"], "additionalProperties": False},
    {"type": "object", "properties": {"type": {"const": "key"}, "key": {"type": "string", "maxLength": 1, "minLength": 1}}, "required": ["type", "key"], "additionalProperties": False},
    {"type": "object", "properties": {"type": {"const": "scroll"}, "delta": {"type": "number"}}, "required": ["type", "delta"], "additionalProperties": False}]})

# ---- systematic combinations: every scalar kind inside objects and arrays ----
scalars = {
    "str": {"type": "string"}, "str-short": {"type": "string", "maxLength": 3}, "str-min": {"type": "string", "minLength": 2},
    "int": {"type": "integer"}, "int-range": {"type": "integer", "minimum": -3, "maximum": 30}, "num": {"type": "number"},
    "num-range": {"type": "number", "minimum": 0, "maximum": 10}, "bool": {"type": "boolean"}, "null": {"type": "null"},
    "enum": {"enum": ["x", "yy", "zzz"]}, "const": {"const": "c"}, "date": {"type": "string", "format": "date"},
    "uuid": {"type": "string", "format": "uuid"}, "email": {"type": "string", "format": "email"},
    "pattern": {"type": "string", "pattern": "^[0-9a-f]{4}$"}, "nullable": {"type": ["integer", "null"]},
    "time": {"type": "string", "format": "time"}, "datetime": {"type": "string", "format": "date-time"},
}
for name, s in scalars.items():
    add(f"combo-required-{name}", {"type": "object", "properties": {"v": s}, "required": ["v"], "additionalProperties": False})
    add(f"combo-optional-{name}", {"type": "object", "properties": {"before": {"type": "boolean"}, "v": s, "after": {"type": "integer"}}, "required": ["after"]})
    add(f"combo-array-{name}", {"type": "array", "items": s, "minItems": 1, "maxItems": 3})
    add(f"combo-anyof-{name}", {"anyOf": [s, {"type": "object", "properties": {"wrapped": s}, "required": ["wrapped"]}]})
names = list(scalars)
for i in range(0, len(names) - 3, 2):
    props = {f"p{k}": scalars[names[i + k]] for k in range(4)}
    add(f"combo-four-{i}", {"type": "object", "properties": props, "required": [f"p{k}" for k in range(0, 4, 2)]})
for depth in range(1, 5):
    s = {"type": "integer"}
    for d in range(depth):
        s = {"type": "object", "properties": {f"level{d}": s, "tag": {"type": "string", "maxLength": 5}}, "required": [f"level{d}"]}
    add(f"nesting-depth-{depth}", s)
for n in [5, 10, 20, 30]:
    props = {}
    for k in range(n):
        props[f"field_{k:02d}"] = list(scalars.values())[k % len(scalars)]
    add(f"wide-object-{n}", {"type": "object", "properties": props, "required": [f"field_{k:02d}" for k in range(0, n, 3)]})

out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "grammar", "corpus", "schemas.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w", encoding="utf-8") as f:
    json.dump(corpus, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(corpus)} schemas -> {os.path.normpath(out)}", file=sys.stderr)
