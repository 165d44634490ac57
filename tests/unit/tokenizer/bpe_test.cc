// BPE merging and added tokens on small hand-made vocabularies.
#include <random>

#include <gtest/gtest.h>

#include "tiny_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tokenizer {
namespace {

using ::kiln::testing::tiny_tokenizer_json;
using ::kiln::testing::TinyAddedToken;
using Ids = std::vector<int32_t>;

std::shared_ptr<const Tokenizer> make(const nlohmann::json& json) {
  auto result = Tokenizer::from_json_text(json.dump(), "tiny/tokenizer.json");
  EXPECT_TRUE(result.ok()) << result.message();
  return result.ok() ? result.value() : nullptr;
}

TEST(Bpe, MergesLowestRankFirst) {
  // "abc": (b c) ranks before (a b), so it is a + bc -> abc via (a bc).
  auto tokenizer = make(tiny_tokenizer_json({"bc", "ab", "abc"}, {{"b", "c"}, {"a", "b"}, {"a", "bc"}},
                                            false));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->encode("abc"), (Ids{258}));
  // With (a b) first, "abc" becomes ab + c: there is no (ab c) merge.
  auto other = make(tiny_tokenizer_json({"bc", "ab", "abc"}, {{"a", "b"}, {"b", "c"}, {"a", "bc"}},
                                        false));
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->encode("abc"), (Ids{257, 'c'}));
}

TEST(Bpe, TiesMergeLeftmostFirst) {
  auto tokenizer = make(tiny_tokenizer_json({"aa"}, {{"a", "a"}}, false));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->encode("aaa"), (Ids{256, 'a'}));
  EXPECT_EQ(tokenizer->encode("aaaa"), (Ids{256, 256}));
}

TEST(Bpe, MergesAsArraysEqualStrings) {
  auto strings = make(tiny_tokenizer_json({"he", "ll", "hell", "o w"}, {{"h", "e"}, {"l", "l"}, {"he", "ll"}},
                                          false, {}, false));
  auto arrays = make(tiny_tokenizer_json({"he", "ll", "hell", "o w"}, {{"h", "e"}, {"l", "l"}, {"he", "ll"}},
                                         false, {}, true));
  ASSERT_NE(strings, nullptr);
  ASSERT_NE(arrays, nullptr);
  EXPECT_EQ(strings->encode("hello"), (Ids{258, 'o'}));
  EXPECT_EQ(arrays->encode("hello"), strings->encode("hello"));
}

TEST(Bpe, IgnoreMergesTakesWholeWordTokens) {
  // "abc" is in the vocabulary but no merge path reaches it: only ignore_merges finds it.
  const std::vector<std::string> vocab = {"ab", "abc"};
  auto merging = make(tiny_tokenizer_json(vocab, {{"a", "b"}}, false));
  auto ignoring = make(tiny_tokenizer_json(vocab, {{"a", "b"}}, true));
  ASSERT_NE(merging, nullptr);
  ASSERT_NE(ignoring, nullptr);
  EXPECT_EQ(merging->encode("abc"), (Ids{256, 'c'}));
  EXPECT_EQ(ignoring->encode("abc"), (Ids{257}));
  EXPECT_EQ(ignoring->encode("abcabc"), (Ids{256, 'c', 256, 'c'}));
}

// The textbook algorithm: merge the lowest-ranked adjacent pair, leftmost first, until none.
std::vector<std::string> reference_bpe(const std::string& word,
                                       const std::vector<std::pair<std::string, std::string>>& merges) {
  std::vector<std::string> symbols;
  for (char c : word) symbols.emplace_back(1, c);
  while (true) {
    size_t best = symbols.size();
    size_t best_rank = merges.size();
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      for (size_t rank = 0; rank < best_rank; ++rank) {
        if (merges[rank].first == symbols[i] && merges[rank].second == symbols[i + 1]) {
          best = i;
          best_rank = rank;
          break;
        }
      }
    }
    if (best == symbols.size()) return symbols;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + best + 1);
  }
}

TEST(Bpe, MatchesReferenceOnShortAndLongWords) {
  // Words over 128 bytes take the heap path, shorter ones the array path: both must agree with
  // the reference.
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"a", "b"}, {"a", "a"}, {"aa", "aa"}, {"b", "a"}, {"ab", "ab"}, {"b", "b"}, {"aa", "b"},
      {"ba", "ab"}, {"abab", "abab"}};
  const std::vector<std::string> vocab = {"ab", "aa", "aaaa", "ba", "abab", "bb", "aab", "baab",
                                          "abababab"};
  auto tokenizer = make(tiny_tokenizer_json(vocab, merges, false));
  ASSERT_NE(tokenizer, nullptr);
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::string word(1 + rng() % (trial % 2 == 0 ? 40 : 400), 'a');
    for (char& c : word) c = rng() % 3 == 0 ? 'b' : 'a';
    std::vector<std::string> got;
    for (int32_t id : tokenizer->encode(word)) got.push_back(tokenizer->token_bytes(id));
    ASSERT_EQ(got, reference_bpe(word, merges)) << word;
  }
}

TEST(Bpe, PreTokenizerSplitsBeforeMerging) {
  // " a" would merge, but "a b" puts the space before b: pieces are "a", " b".
  auto tokenizer = make(tiny_tokenizer_json({" b", "a "}, {{" ", "b"}, {"a", " "}}, false));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->encode("a b"), (Ids{'a', 256}));
}

nlohmann::json with_added(const std::vector<TinyAddedToken>& added) {
  return tiny_tokenizer_json({"ab"}, {{"a", "b"}}, false, added);
}

TEST(AddedTokens, MatchedInRawTextBeforeBpe) {
  auto tokenizer = make(with_added({{300, "<s>", true}, {301, "ab", false}, {302, "<user>", false}}));
  ASSERT_NE(tokenizer, nullptr);
  // Inside words, adjacent to each other, at both ends.
  EXPECT_EQ(tokenizer->encode("x<s>y"), (Ids{'x', 300, 'y'}));
  EXPECT_EQ(tokenizer->encode("<s><user><s>"), (Ids{300, 302, 300}));
  EXPECT_EQ(tokenizer->encode("cabd"), (Ids{'c', 301, 'd'}));
  EXPECT_EQ(tokenizer->encode("<s "), (Ids{'<', 's', ' '}));
}

TEST(AddedTokens, LongestMatchWins) {
  auto tokenizer = make(with_added({{300, "<a>", true}, {301, "<a><b>", true}, {302, "<a><", true}}));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->encode("<a><b>"), (Ids{301}));
  EXPECT_EQ(tokenizer->encode("<a><c>"), (Ids{302, 'c', '>'}));
  EXPECT_EQ(tokenizer->encode("<a>"), (Ids{300}));
}

TEST(AddedTokens, LstripRstripTakeWhitespace) {
  TinyAddedToken left{300, "<L>"};
  left.lstrip = true;
  TinyAddedToken right{301, "<R>"};
  right.rstrip = true;
  auto tokenizer = make(with_added({left, right}));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->encode("x  <L>y"), (Ids{'x', 300, 'y'}));
  EXPECT_EQ(tokenizer->encode("x<R> \t y"), (Ids{'x', 301, 'y'}));
  EXPECT_EQ(tokenizer->encode("x <R>  y"), (Ids{'x', ' ', 301, 'y'}));
}

TEST(AddedTokens, SingleWordOnlyOutsideWords) {
  TinyAddedToken word{300, "ab"};
  word.single_word = true;
  auto tokenizer = make(with_added({word}));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->encode("ab"), (Ids{300}));
  EXPECT_EQ(tokenizer->encode("x ab."), (Ids{'x', ' ', 300, '.'}));
  // Inside a word it is ordinary text (BPE merges a b -> ab, id 256).
  EXPECT_EQ(tokenizer->encode("cab"), (Ids{'c', 256}));
}

TEST(AddedTokens, SkipSpecialTokensDropsOnlySpecialOnes) {
  auto tokenizer = make(with_added({{300, "<s>", true}, {301, "<t>", false}}));
  ASSERT_NE(tokenizer, nullptr);
  const Ids ids = tokenizer->encode("<s>a<t>b<s>");
  EXPECT_EQ(ids, (Ids{300, 'a', 301, 'b', 300}));
  EXPECT_EQ(tokenizer->decode(ids, /*skip_special_tokens=*/true), "a<t>b");
  EXPECT_EQ(tokenizer->decode(ids, false), "<s>a<t>b<s>");
  EXPECT_TRUE(tokenizer->is_special(300));
  EXPECT_FALSE(tokenizer->is_special(301));
  EXPECT_TRUE(tokenizer->is_added_token(301));
  EXPECT_EQ(tokenizer->vocab_size(), 302);
}

TEST(Decode, InvalidUtf8BecomesReplacementCharacters) {
  auto tokenizer = make(tiny_tokenizer_json({}, {}, false));
  ASSERT_NE(tokenizer, nullptr);
  // Byte ids are the bytes themselves. E2 82 is an incomplete 3-byte sequence: one U+FFFD;
  // FF is never valid: one U+FFFD each; C0 is an invalid lead byte.
  EXPECT_EQ(tokenizer->decode(Ids{'a', 0xE2, 0x82, 'b'}), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(tokenizer->decode(Ids{0xFF, 0xFF}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer->decode(Ids{0xC0, 0x80}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer->decode(Ids{0xF0, 0x9F, 0x98}), "\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer->decode(Ids{0xED, 0xA0, 0x80}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer->decode(Ids{0xF0, 0x9F, 0x98, 0x80}), "😀");
}

}  // namespace
}  // namespace kiln::tokenizer
