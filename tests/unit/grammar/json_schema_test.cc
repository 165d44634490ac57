// JSON Schema to grammar: the masks against the reference oracle on schemas that exercise each
// construct, documents accepted and refused, and errors that name the keyword and where it is.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "grammar/json_schema.h"
#include "walk_check.h"

namespace kiln::grammar {
namespace {

// Tokens a JSON model would use, besides the generated ones over the alphabet.
const std::vector<std::string> kJsonTokens = {"{\"", "\":", "\",", "\"}", "\"]", "},", "}]", "],", ", \"", "\": ",
                                              "true", "false", "null", "-1", "12", "0.", ".5", "e+", "\\n", "\\u00",
                                              "\xC3\xA9", "\"\xC3", "\xA9\"", "[\"", "[{", "}}", "]]"};

JsonSchemaOptions small_whitespace() {
  JsonSchemaOptions options;
  options.max_whitespace = 1;
  return options;
}

void check_schema_walks(const std::string& schema, const std::string& alphabet, int walks = 25, int steps = 30) {
  auto grammar = json_schema_to_grammar(schema, small_whitespace());
  ASSERT_TRUE(grammar.ok()) << grammar.message();
  testing::check_walks(*grammar, schema, alphabet, kJsonTokens, walks, steps);
}

bool accepts(const std::string& schema, const std::string& document, JsonSchemaOptions options = {}) {
  auto grammar = json_schema_to_grammar(schema, options);
  EXPECT_TRUE(grammar.ok()) << grammar.message();
  if (!grammar.ok()) return false;
  auto compiled = testing::compile(*grammar, testing::make_vocabulary({"x"}));
  GrammarMatcher matcher(compiled);
  return matcher.accept_bytes(document) && matcher.is_complete();
}

std::string error_of(const std::string& schema) {
  auto grammar = json_schema_to_grammar(schema);
  return grammar.ok() ? std::string("(no error)") : grammar.message();
}

TEST(JsonSchemaWalks, ObjectWithOptionalAndAdditionalProperties) {
  check_schema_walks(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"},"c":{"type":"null"}},
                        "required":["b"],"additionalProperties":{"type":"integer","minimum":0,"maximum":9}})",
                     "{}\":,abcx019-tn ", 12, 30);
}

TEST(JsonSchemaWalks, ArraysWithPrefixAndBounds) {
  check_schema_walks(R"({"type":"array","prefixItems":[{"const":"x"},{"type":"boolean"}],"items":{"enum":[1,22]},
                        "minItems":1,"maxItems":4})",
                     "[],\"x12tru ");
}

TEST(JsonSchemaWalks, StringsWithLengthsAndEscapes) {
  check_schema_walks(R"({"type":"array","items":{"type":"string","minLength":1,"maxLength":3}})",
                     "[]\",a\\nu0\xC3\xA9");
}

TEST(JsonSchemaWalks, RecursiveReference) {
  check_schema_walks(R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},
                        "required":["v"]}},"$ref":"#/$defs/node"})",
                     "{}[]\":,vkids1 ", 12, 30);
}

TEST(JsonSchemaWalks, AnyOfAndNumbersWithBounds) {
  check_schema_walks(R"({"anyOf":[{"type":"number","exclusiveMinimum":-2,"maximum":3},{"type":"string","pattern":"^a[bc]*$"}]})",
                     "-0123.\"abc5e");
}

TEST(JsonSchemaWalks, AnyJsonValue) {
  auto grammar = json_schema_to_grammar("{}", small_whitespace());
  ASSERT_TRUE(grammar.ok()) << grammar.message();
  testing::check_walks(*grammar, "{}", "{}[]\":,a1tn ", kJsonTokens, 12, 30);
}

TEST(JsonSchema, AcceptsValidDocumentsInSchemaOrder) {
  const std::string schema = R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0},
                                 "tags":{"type":"array","items":{"type":"string"}}},"required":["name"]})";
  EXPECT_TRUE(accepts(schema, R"({"name":"Ann"})"));
  EXPECT_TRUE(accepts(schema, R"({"name":"Ann","age":3,"tags":["a","b"]})"));
  EXPECT_TRUE(accepts(schema, "{\n  \"name\": \"Ann\",\n  \"age\": 3\n}"));
  EXPECT_FALSE(accepts(schema, R"({"age":3})"));                 // required name missing
  EXPECT_FALSE(accepts(schema, R"({"name":"Ann","age":-1})"));   // below minimum
  EXPECT_FALSE(accepts(schema, R"({"name":"Ann","x":1})"));      // additional properties are off
  EXPECT_FALSE(accepts(schema, R"({"age":3,"name":"Ann"})"));    // members come in schema order
  EXPECT_FALSE(accepts(schema, R"( {"name":"Ann"})"));           // nothing before the value
}

TEST(JsonSchema, WhitespaceRunsAreBounded) {
  const std::string schema = R"({"type":"object","properties":{"a":{"type":"integer"}}})";
  EXPECT_TRUE(accepts(schema, "{" + std::string(20, ' ') + "\"a\":1}"));
  EXPECT_FALSE(accepts(schema, "{" + std::string(21, ' ') + "\"a\":1}"));
  JsonSchemaOptions unbounded;
  unbounded.max_whitespace = kUnbounded;
  EXPECT_TRUE(accepts(schema, "{" + std::string(200, '\n') + "\"a\":1}", unbounded));
}

TEST(JsonSchema, Formats) {
  auto with_format = [](const char* format) { return std::string(R"({"type":"string","format":")") + format + "\"}"; };
  EXPECT_TRUE(accepts(with_format("date"), "\"2024-02-29\""));
  EXPECT_FALSE(accepts(with_format("date"), "\"2023-02-29\""));
  EXPECT_FALSE(accepts(with_format("date"), "\"2023-04-31\""));
  EXPECT_TRUE(accepts(with_format("date-time"), "\"2023-04-30T23:59:59.5+02:00\""));
  EXPECT_FALSE(accepts(with_format("date-time"), "\"2023-04-30 23:59:59Z\""));
  EXPECT_TRUE(accepts(with_format("uuid"), "\"123e4567-e89b-12d3-a456-426614174000\""));
  EXPECT_FALSE(accepts(with_format("uuid"), "\"123e4567e89b12d3a456426614174000\""));
  EXPECT_TRUE(accepts(with_format("email"), "\"a.b+c@example.co\""));
  EXPECT_FALSE(accepts(with_format("email"), "\"a@b\""));
  EXPECT_TRUE(accepts(with_format("unknown-format"), "\"anything\""));  // an annotation
}

TEST(JsonSchema, AdditionalPropertyKeysDifferFromListedOnes) {
  const std::string schema = R"({"type":"object","properties":{"ab":{"type":"integer"}},"additionalProperties":{"type":"string"}})";
  EXPECT_TRUE(accepts(schema, R"({"ab":1,"abc":"x"})"));
  EXPECT_TRUE(accepts(schema, R"({"a":"x"})"));
  EXPECT_FALSE(accepts(schema, R"({"ab":1,"ab":"x"})"));
  EXPECT_FALSE(accepts(schema, R"({"ab":"x"})"));
}

TEST(JsonSchema, UnsupportedKeywordsAreNamedWithTheirPlace) {
  EXPECT_EQ(error_of(R"({"type":"object","properties":{"n":{"type":"integer","multipleOf":3}}})"),
            "schema at /properties/n: unsupported keyword 'multipleOf'");
  EXPECT_EQ(error_of(R"({"type":"array","uniqueItems":true})"), "schema at the root: unsupported keyword 'uniqueItems'");
  EXPECT_EQ(error_of(R"({"not":{"type":"string"}})"), "schema at the root: unsupported keyword 'not'");
  EXPECT_EQ(error_of(R"({"type":"object","patternProperties":{"a":{}},"if":{},"uniqueItems":true})"),
            "schema at the root: unsupported keywords 'patternProperties', 'if', 'uniqueItems'");
  EXPECT_EQ(error_of(R"({"$ref":"https://example.com/s.json"})"),
            "schema at /$ref: cannot resolve 'https://example.com/s.json' (only '#' and '#/...' pointers into this schema are supported)");
  EXPECT_EQ(error_of(R"({"type":"strin"})"), "schema at /type: unknown type 'strin'");
  EXPECT_EQ(error_of(R"({"type":"string","minLength":5,"maxLength":2})"), "schema at the root: minLength is larger than maxLength");
  EXPECT_EQ(error_of(R"({"type":"integer","minimum":5,"maximum":4})"), "schema at the root: no integer lies within its minimum and maximum");
  EXPECT_EQ(error_of(R"({"type":"string","pattern":"(?=a)b"})"), "schema at /pattern: regex: at offset 1: lookaround assertions are not supported");
  EXPECT_EQ(error_of("{\"type\":"), "schema is not valid JSON: parse error at line 1, column 9: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(error_of("false"), "schema at the root: the schema 'false' matches nothing");
}

TEST(JsonSchema, AnnotationsAndSingleAllOfAreAccepted) {
  EXPECT_TRUE(accepts(R"({"title":"T","description":"d","examples":[1],"default":2,"type":"integer"})", "7"));
  EXPECT_TRUE(accepts(R"({"$defs":{"A":{"type":"boolean"}},"allOf":[{"$ref":"#/$defs/A"}],"description":"x"})", "true"));
  EXPECT_TRUE(accepts(R"({"type":["string","null"]})", "null"));
  EXPECT_TRUE(accepts(R"({"enum":["a",1,null,{"k":[1]}]})", R"({"k":[1]})"));
  EXPECT_TRUE(accepts(R"({"type":"string","enum":["a",1]})", "\"a\""));
  EXPECT_FALSE(accepts(R"({"type":"string","enum":["a",1]})", "1"));
}

TEST(JsonObjectGrammar, AnyObjectOnly) {
  auto compiled = testing::compile(json_object_grammar(), testing::make_vocabulary({"x"}));
  auto accepts_object = [&](const std::string& text) {
    GrammarMatcher matcher(compiled);
    return matcher.accept_bytes(text) && matcher.is_complete();
  };
  EXPECT_TRUE(accepts_object(R"({"a":[1,{"b":null}],"c":"\u00e9"})"));
  EXPECT_TRUE(accepts_object("{}"));
  EXPECT_FALSE(accepts_object("[1]"));
  EXPECT_FALSE(accepts_object(R"({"a":1,})"));
}

}  // namespace
}  // namespace kiln::grammar
