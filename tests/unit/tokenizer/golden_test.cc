// Golden tests: kiln's ids for every text of tests/golden/tokenizer/corpus.json against the ids
// of two reference implementations, HF tokenizers (expected_hf.json, made on the GPU machine by
// tools/golden/make_tokenizer_golden.py) and the npm library @lenml/tokenizers
// (expected_npm.json, tools/tokenizer/make-golden-npm.mjs).
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deepseek_tokenizer.h"

namespace kiln::tokenizer {
namespace {

const std::filesystem::path kGoldenDir =
    std::filesystem::path(KILN_SOURCE_DIR) / "tests" / "golden" / "tokenizer";

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return nlohmann::json();
  return nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
}

std::string escaped(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/true);
}

// Texts on which transformers.js (the npm library) differs from HF tokenizers; kiln follows HF.
// The split regex's \s is Unicode White_Space in Oniguruma (HF), which has U+0085 and not
// U+FEFF; JavaScript's \s is the other way round. ("x  \u0085a": HF splits "x", "  ",
// "\u0085a"; JavaScript "x", " ", " \u0085", "a".)
const std::set<std::string> kNpmKnownDifferent = {
    "x  \u0085a",
    "x  \ufeffa",
    "if  \u0085\u0085ok",
};

struct Mismatch {
  size_t index;
  std::vector<int32_t> ours;
};

std::vector<Mismatch> compare(const Tokenizer& tokenizer, const nlohmann::json& corpus,
                              const nlohmann::json& expected, const std::set<std::string>& skip) {
  std::vector<Mismatch> mismatches;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const auto& text = corpus[i].get_ref<const std::string&>();
    if (skip.count(text)) continue;
    const auto ours = tokenizer.encode(text);
    if (ours != expected["ids"][i].get<std::vector<int32_t>>()) mismatches.push_back({i, ours});
  }
  return mismatches;
}

void check_against(const std::string& fixture_name, const std::set<std::string>& skip) {
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const nlohmann::json corpus = read_json(kGoldenDir / "corpus.json");
  const nlohmann::json expected = read_json(kGoldenDir / fixture_name);
  ASSERT_TRUE(corpus.is_array() && corpus.size() > 100) << "corpus.json is missing or short";
  ASSERT_TRUE(expected.is_object() && expected["ids"].is_array()) << fixture_name << " is malformed";
  ASSERT_EQ(expected["ids"].size(), corpus.size())
      << fixture_name << " is for another version of corpus.json: make it again";
  const auto mismatches = compare(*tokenizer, corpus, expected, skip);
  for (const Mismatch& mismatch : mismatches) {
    ADD_FAILURE() << fixture_name << " text " << mismatch.index << " "
                  << escaped(corpus[mismatch.index].get<std::string>()) << "\n  expected "
                  << expected["ids"][mismatch.index].dump() << "\n  kiln     "
                  << nlohmann::json(mismatch.ours).dump();
  }
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " of " << corpus.size() << " differ";
}

TEST(TokenizerGolden, MatchesNpmTokenizers) {
  check_against("expected_npm.json", kNpmKnownDifferent);
}

TEST(TokenizerGolden, NpmKnownDifferencesStillDiffer) {
  // A listed text that npm now encodes like kiln no longer belongs on the list.
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const nlohmann::json corpus = read_json(kGoldenDir / "corpus.json");
  const nlohmann::json expected = read_json(kGoldenDir / "expected_npm.json");
  ASSERT_TRUE(corpus.is_array() && expected.is_object());
  size_t found = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const auto& text = corpus[i].get_ref<const std::string&>();
    if (!kNpmKnownDifferent.count(text)) continue;
    ++found;
    EXPECT_NE(tokenizer->encode(text), expected["ids"][i].get<std::vector<int32_t>>())
        << escaped(text);
  }
  EXPECT_EQ(found, kNpmKnownDifferent.size()) << "a listed text is not in corpus.json";
}

TEST(TokenizerGolden, MatchesHfTokenizers) {
  if (!std::filesystem::exists(kGoldenDir / "expected_hf.json")) {
    GTEST_SKIP() << "tests/golden/tokenizer/expected_hf.json is not there yet: it is made on the "
                    "GPU machine by tools/golden/make_tokenizer_golden.py (HF tokenizers)";
  }
  check_against("expected_hf.json", {});
}

TEST(TokenizerGolden, DecodeAndSpecialTokensMatchHf) {
  const auto path = kGoldenDir / "expected_hf.json";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "tests/golden/tokenizer/expected_hf.json is not there yet: it is made on the "
                    "GPU machine by tools/golden/make_tokenizer_golden.py (HF tokenizers)";
  }
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const nlohmann::json expected = read_json(path);
  ASSERT_TRUE(expected.is_object() && expected["decode_cases"].is_array());
  EXPECT_EQ(tokenizer->encode("Hello!", /*add_special_tokens=*/true),
            expected["hello_with_special_tokens"].get<std::vector<int32_t>>());
  for (const auto& decode_case : expected["decode_cases"]) {
    const auto ids = decode_case["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer->decode(ids, false), decode_case["text"].get<std::string>())
        << decode_case["ids"].dump();
    EXPECT_EQ(tokenizer->decode(ids, true), decode_case["text_skip_special"].get<std::string>())
        << decode_case["ids"].dump();
  }
}

TEST(TokenizerGolden, DecodeRoundTripsTheCorpus) {
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const nlohmann::json corpus = read_json(kGoldenDir / "corpus.json");
  ASSERT_TRUE(corpus.is_array());
  for (const auto& text : corpus) {
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text.get<std::string>())), text.get<std::string>())
        << escaped(text.get<std::string>());
  }
}

}  // namespace
}  // namespace kiln::tokenizer
