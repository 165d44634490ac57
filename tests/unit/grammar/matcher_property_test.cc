// Property tests of the matcher against the independent reference (reference_matcher.h) on small
// vocabularies: along random walks through the masks, a token is allowed exactly when the text
// with it is still a prefix of some sentence (nothing invalid let through, nothing valid
// masked), stop tokens exactly when the text is a sentence, and every step can still finish.
#include <gtest/gtest.h>

#include <vector>

#include "grammar/ebnf_parser.h"
#include "walk_check.h"

namespace kiln::grammar {
namespace {

using testing::bit;
using testing::compile;
using testing::kStop;
using testing::make_vocabulary;

void check_walks(const std::string& ebnf, const std::string& alphabet, int num_walks, int max_steps) {
  auto grammar = parse_ebnf(ebnf);
  ASSERT_TRUE(grammar.ok()) << grammar.message();
  testing::check_walks(*grammar, ebnf, alphabet, {}, num_walks, max_steps);
}


TEST(MatcherProperty, LiteralsAndChoices) {
  check_walks(R"g(root ::= "ab" | "abc" | "b" ("a" | "c")+)g", "abc", 20, 12);
}

TEST(MatcherProperty, RightRecursionWithNesting) {
  check_walks(R"g(
    root ::= value
    value ::= "[" (value ("," value)*)? "]" | "x"
  )g", "[],x", 30, 25);
}

TEST(MatcherProperty, BoundedRepetitionAndClasses) {
  check_walks(R"g(root ::= [a-c]{2,4} ("-" [^a-c\-]{0,2})? "!")g", "abcd-!", 30, 12);
}

TEST(MatcherProperty, NullableRulesInTheMiddle) {
  check_walks(R"g(
    root ::= a b a "z"
    a ::= "x"*
    b ::= ("y" a)?
  )g", "xyz", 30, 15);
}

TEST(MatcherProperty, SharedRulesWithDifferentCallers) {
  // `item` ends in different contexts; tokens crossing its end need the caller.
  check_walks(R"g(
    root ::= "(" list ")" | "{" item ("," item)* "}"
    list ::= item (";" item)*
    item ::= [a-b]+ | "(" list ")"
  )g", "(){},;ab", 30, 20);
}

TEST(MatcherProperty, MultiByteCharacters) {
  check_walks("root ::= [α-γ€]+ \"!\"", "\xCE\xB1\xCE\xB2\xE2\x82\xAC!", 20, 10);
}

TEST(MatcherProperty, LeftRecursion) {
  // Not covered by the reference oracle's assumption, so checked by its language instead.
  auto grammar = parse_ebnf(R"g(root ::= root "+" "x" | "x")g");
  ASSERT_TRUE(grammar.ok()) << grammar.message();
  auto vocab = make_vocabulary({"x", "+", "+x", "x+", "xx", "++"});
  auto compiled = compile(*grammar, vocab);
  GrammarMatcher matcher(compiled);
  std::vector<uint32_t> words(static_cast<size_t>(vocab->bitmask_words()));
  matcher.fill_next_token_bitmask(words);
  EXPECT_TRUE(bit(words, 1));   // x
  EXPECT_TRUE(bit(words, 4));   // x+
  EXPECT_FALSE(bit(words, 2));  // +
  EXPECT_FALSE(bit(words, 5));  // xx
  ASSERT_TRUE(matcher.accept_token(4));  // "x+"
  matcher.fill_next_token_bitmask(words);
  EXPECT_TRUE(bit(words, 1));
  EXPECT_FALSE(bit(words, kStop));
  ASSERT_TRUE(matcher.accept_token(1));
  EXPECT_TRUE(matcher.is_complete());
  matcher.fill_next_token_bitmask(words);
  EXPECT_TRUE(bit(words, 3));  // +x
  EXPECT_TRUE(bit(words, kStop));
}

}  // namespace
}  // namespace kiln::grammar
