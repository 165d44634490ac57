// Malformed or unsupported tokenizer.json files get an error naming the file and the field.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tiny_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tokenizer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string load_error(const nlohmann::json& json) {
  auto result = Tokenizer::from_json_text(json.dump(), "models/x/tokenizer.json");
  EXPECT_FALSE(result.ok());
  return result.ok() ? "" : result.message();
}

nlohmann::json valid() { return testing::tiny_tokenizer_json({"ab"}, {{"a", "b"}}, false); }

TEST(TokenizerJsonErrors, MissingFileNamesIt) {
  auto result = Tokenizer::load("/nonexistent/tokenizer.json");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.message(), HasSubstr("/nonexistent/tokenizer.json"));
}

TEST(TokenizerJsonErrors, NotJson) {
  auto result = Tokenizer::from_json_text("{\"model\": ", "models/x/tokenizer.json");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.message(), AllOf(HasSubstr("models/x/tokenizer.json"), HasSubstr("JSON")));
}

TEST(TokenizerJsonErrors, MissingModel) {
  auto json = valid();
  json.erase("model");
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("models/x/tokenizer.json"), HasSubstr("model")));
}

TEST(TokenizerJsonErrors, UnsupportedModelType) {
  auto json = valid();
  json["model"]["type"] = "WordPiece";
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("model.type"), HasSubstr("WordPiece")));
}

// Ids index dense per-id tables: one id of 16 million in a file of a few hundred bytes allocated
// gigabytes (fuzz_tokenizer_json found it). Gaps stay allowed up to twice the tokens plus 1024.
TEST(TokenizerJsonErrors, IdsFarPastTheNumberOfTokensAreRefused) {
  auto json = valid();
  const size_t num_vocab = json["model"]["vocab"].size();
  json["model"]["vocab"]["far"] = 16'000'000;
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("model.vocab[\"far\"]"),
                                      HasSubstr("expected an id from 0 to " + std::to_string(2 * (num_vocab + 1) + 1023))));
  json = valid();
  json["model"]["vocab"]["gap"] = 2 * (num_vocab + 1) + 1023;  // the largest id allowed
  EXPECT_TRUE(Tokenizer::from_json_text(json.dump(), "models/x/tokenizer.json").ok());
  json = valid();
  json["added_tokens"] = nlohmann::json::array({{{"id", 10'000'000}, {"content", "<|x|>"}}});
  EXPECT_THAT(load_error(json), HasSubstr("added_tokens[0].id"));
}

TEST(TokenizerJsonErrors, MergeOfUnknownToken) {
  auto json = valid();
  json["model"]["merges"].push_back("zz q");
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("models/x/tokenizer.json"),
                                      HasSubstr("model.merges[1]"), HasSubstr("zz")));
}

TEST(TokenizerJsonErrors, MalformedMerge) {
  auto json = valid();
  json["model"]["merges"].push_back("abc");
  EXPECT_THAT(load_error(json), HasSubstr("model.merges[1]"));
  json = valid();
  json["model"]["merges"].push_back(nlohmann::json::array({"a"}));
  EXPECT_THAT(load_error(json), HasSubstr("model.merges[1]"));
}

TEST(TokenizerJsonErrors, MergeResultNotInVocab) {
  auto json = valid();
  json["model"]["merges"].push_back("b a");  // "ba" is not a token
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("model.merges[1]"), HasSubstr("model.vocab")));
}

TEST(TokenizerJsonErrors, BadVocabId) {
  auto json = valid();
  json["model"]["vocab"]["zz"] = "seven";
  EXPECT_THAT(load_error(json), HasSubstr("model.vocab[\"zz\"]"));
  json = valid();
  json["model"]["vocab"]["zz"] = 3;  // id 3 is already byte 3
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("model.vocab["), HasSubstr("id 3 is also")));
}

TEST(TokenizerJsonErrors, BadRegex) {
  auto json = valid();
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("pre_tokenizer.pretokenizers[0].pattern"),
                                      HasSubstr("regex")));
}

TEST(TokenizerJsonErrors, UnsupportedComponents) {
  auto json = valid();
  json["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("normalizer.type"), HasSubstr("Lowercase")));
  json = valid();
  json["decoder"] = {{"type", "WordPiece"}};
  EXPECT_THAT(load_error(json), HasSubstr("decoder.type"));
  json = valid();
  json["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_THAT(load_error(json), HasSubstr("pre_tokenizer.type"));
  json = valid();
  json["model"]["dropout"] = 0.1;
  EXPECT_THAT(load_error(json), HasSubstr("model.dropout"));
}

// A field of the wrong type is an error naming it; nlohmann's value() threw out of the loader
// (fuzz_tokenizer_json found "behavior": {...}).
TEST(TokenizerJsonErrors, ComponentFieldsOfTheWrongTypeAreNamed) {
  auto json = valid();
  json["normalizer"] = 7;
  EXPECT_THAT(load_error(json), HasSubstr("normalizer: expected an object or null"));
  json = valid();
  json["normalizer"] = {{"type", {{"x", 1}}}};
  EXPECT_THAT(load_error(json), HasSubstr("normalizer.type: expected a string"));
  json = valid();
  json["decoder"]["type"] = 1;
  EXPECT_THAT(load_error(json), HasSubstr("decoder.type: expected a string"));
  json = valid();
  json["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers", {{{"type", "Split"}, {"pattern", {{"Regex", "a"}}},
                                               {"behavior", {{"id", "x"}}}}}}};
  EXPECT_THAT(load_error(json), HasSubstr("pre_tokenizer.pretokenizers[0].behavior: expected a string"));
  json = valid();
  json["pre_tokenizer"]["type"] = nlohmann::json::array();
  EXPECT_THAT(load_error(json), HasSubstr("pre_tokenizer.type: expected a string"));
  json = valid();
  json["post_processor"] = {{"type", false}};
  EXPECT_THAT(load_error(json), HasSubstr("post_processor.type: expected a string"));
}

TEST(TokenizerJsonErrors, BadAddedToken) {
  auto json = valid();
  json["added_tokens"] = {{{"id", 300}}};
  EXPECT_THAT(load_error(json), HasSubstr("added_tokens[0]"));
  json = valid();
  json["added_tokens"] = {{{"id", 300}, {"content", "<x>"}, {"special", "yes"}}};
  EXPECT_THAT(load_error(json), HasSubstr("added_tokens[0].special"));
}

TEST(TokenizerJsonErrors, PostProcessorNamesMissingSpecialToken) {
  auto json = valid();
  json["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single", {{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                                        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                            {"special_tokens", nlohmann::json::object()}};
  EXPECT_THAT(load_error(json), AllOf(HasSubstr("post_processor"), HasSubstr("<bos>")));
}

}  // namespace
}  // namespace kiln::tokenizer
