// The Split pre-tokenizer with the Llama 3, Qwen2 and GPT-2 patterns (PCRE2).
#include "tokenizer/regex_splitter.h"

#include <gtest/gtest.h>

#include "tiny_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

Pieces split(std::string_view pattern, std::string_view text,
             SplitBehavior behavior = SplitBehavior::kIsolated) {
  auto splitter = RegexSplitter::compile(pattern, false, behavior, "test");
  EXPECT_TRUE(splitter.ok()) << splitter.message();
  if (!splitter.ok()) return {};
  std::vector<std::string_view> views;
  const Status status = splitter->split(text, &views);
  EXPECT_TRUE(status.ok()) << status.message();
  return Pieces(views.begin(), views.end());
}

const std::string kText = "Hello world 12345 it's\n\n  x";

TEST(RegexSplitter, Llama3Pattern) {
  EXPECT_EQ(split(kLlama3, kText),
            (Pieces{"Hello", " world", " ", "123", "45", " it", "'s", "\n\n", " ", " x"}));
  EXPECT_EQ(split(kLlama3, "DON'T stop"), (Pieces{"DON", "'T", " stop"}));
  EXPECT_EQ(split(kLlama3, "a  "), (Pieces{"a", "  "}));
  EXPECT_EQ(split(kLlama3, "x){\n\ty"), (Pieces{"x", "){\n", "\ty"}));
  EXPECT_EQ(split(kLlama3, "日本語テキスト"), (Pieces{"日本語テキスト"}));
  EXPECT_EQ(split(kLlama3, "¿qué?"), (Pieces{"¿qué", "?"}));
}

TEST(RegexSplitter, Qwen2PatternSplitsSingleDigits) {
  EXPECT_EQ(split(kQwen2, kText), (Pieces{"Hello", " world", " ", "1", "2", "3", "4", "5", " it",
                                          "'s", "\n\n", " ", " x"}));
}

TEST(RegexSplitter, Gpt2Pattern) {
  EXPECT_EQ(split(kGpt2, kText),
            (Pieces{"Hello", " world", " 12345", " it", "'s", "\n\n ", " x"}));
}

TEST(RegexSplitter, UnicodeWhitespaceAsHfSeesIt) {
  // U+3000 and U+00A0 are whitespace for both engines; U+0085 is for HF (Oniguruma) and for
  // kiln through widen_whitespace_classes; U+FEFF for neither.
  EXPECT_EQ(split(kLlama3, "a\u3000\u3000b"), (Pieces{"a", "\u3000", "\u3000b"}));
  EXPECT_EQ(split(kLlama3, "x  \u0085a"), (Pieces{"x", "  ", "\u0085a"}));
  EXPECT_EQ(split(kLlama3, "x  \ufeffa"), (Pieces{"x", " ", " \ufeff", "a"}));
}

TEST(RegexSplitter, WidensWhitespaceClasses) {
  EXPECT_EQ(widen_whitespace_classes(R"(\s+(?!\S)|[^\s\p{L}]|\\s|[\]\s])"),
            R"([\s\x{85}]+(?![^\s\x{85}])|[^\s\x{85}\p{L}]|\\s|[\]\s\x{85}])");
}

TEST(RegexSplitter, RemovedBehaviorDropsMatches) {
  EXPECT_EQ(split(R"(\s+)", "a b  c ", SplitBehavior::kRemoved), (Pieces{"a", "b", "c"}));
  EXPECT_EQ(split(R"(\s+)", "a b", SplitBehavior::kIsolated), (Pieces{"a", " ", "b"}));
}

TEST(RegexSplitter, GapsBetweenMatchesArePieces) {
  EXPECT_EQ(split(R"(\d+)", "ab12cd3"), (Pieces{"ab", "12", "cd", "3"}));
  // A pattern that can match empty cuts nothing there.
  EXPECT_EQ(split(R"(\d*)", "a1b"), (Pieces{"a", "1", "b"}));
}

TEST(RegexSplitter, HugeWhitespaceRunNeedsNoDeepStack) {
  const std::string text = std::string(1 << 20, ' ') + "x";
  EXPECT_EQ(split(kLlama3, text), (Pieces{std::string((1 << 20) - 1, ' '), " x"}));
}

// 10 MB of whitespace failed with PCRE2's match limit (error -47) and KILN_CHECK aborted the
// server; the limit now grows with the text, so such a run splits as HF splits it.
TEST(RegexSplitter, TenMegabytesOfWhitespaceSplit) {
  const std::string text = std::string(10 << 20, ' ') + "x";
  EXPECT_EQ(split(kLlama3, text), (Pieces{std::string((10 << 20) - 1, ' '), " x"}));
  const std::string newlines = std::string(10 << 20, '\n');
  EXPECT_EQ(split(kLlama3, newlines), (Pieces{newlines}));
}

// Catastrophic backtracking (a tokenizer.json pattern such as `(a+)+$`) is an error for that
// text, with the rest kept as one piece, not an abort.
TEST(RegexSplitter, PathologicalPatternFailsCleanly) {
  auto splitter = RegexSplitter::compile("(a+)+$", false, SplitBehavior::kIsolated, "test");
  ASSERT_TRUE(splitter.ok());
  const std::string text = "b" + std::string(28, 'a') + "!";
  std::vector<std::string_view> pieces;
  const Status status = splitter->split(text, &pieces);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("match limit"), std::string::npos) << status.message();
  EXPECT_EQ(pieces, (std::vector<std::string_view>{text}));
}

TEST(RegexSplitter, TokenizerWithPathologicalPatternEncodesOrErrs) {
  auto json = testing::tiny_tokenizer_json({}, {}, false);
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(a+)+$";
  auto tokenizer = Tokenizer::from_json_text(json.dump(), "evil/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  const std::string text = std::string(28, 'a') + "!";
  auto checked = (*tokenizer)->encode_checked(text);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.message().find("pre-tokenizer"), std::string::npos);
  // The unchecked path falls back to the unsplit text: one id per byte here (no merges).
  EXPECT_EQ((*tokenizer)->encode(text).size(), text.size());
  EXPECT_EQ((*tokenizer)->encode_checked("ab").value(), (std::vector<int32_t>{'a', 'b'}));
}

TEST(ByteLevelPreTokenizer, Gpt2StyleWithPrefixSpace) {
  // GPT-2 files have one ByteLevel pre-tokenizer with use_regex and add_prefix_space.
  auto json = testing::tiny_tokenizer_json({" H", " w"}, {{" ", "H"}, {" ", "w"}}, false);
  json["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  auto tokenizer = Tokenizer::from_json_text(json.dump(), "gpt2/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  EXPECT_EQ((*tokenizer)->encode("Hi"), (std::vector<int32_t>{256, 'i'}));
  EXPECT_EQ((*tokenizer)->encode("Hi w"), (std::vector<int32_t>{256, 'i', 257}));
  json["pre_tokenizer"]["add_prefix_space"] = false;
  auto no_prefix = Tokenizer::from_json_text(json.dump(), "gpt2/tokenizer.json");
  ASSERT_TRUE(no_prefix.ok()) << no_prefix.message();
  EXPECT_EQ((*no_prefix)->encode("Hi"), (std::vector<int32_t>{'H', 'i'}));
}

}  // namespace
}  // namespace kiln::tokenizer
