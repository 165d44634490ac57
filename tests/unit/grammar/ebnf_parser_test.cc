// The EBNF reader: the GBNF/XGrammar syntax it accepts, and errors with line and column.
#include <gtest/gtest.h>

#include <string>

#include "grammar/ebnf_parser.h"
#include "walk_check.h"

namespace kiln::grammar {
namespace {

bool matches(const std::string& ebnf, const std::string& text) {
  auto grammar = parse_ebnf(ebnf);
  EXPECT_TRUE(grammar.ok()) << grammar.message();
  if (!grammar.ok()) return false;
  auto compiled = testing::compile(*grammar, testing::make_vocabulary({"x"}));
  GrammarMatcher matcher(compiled);
  return matcher.accept_bytes(text) && matcher.is_complete();
}

std::string error_of(const std::string& ebnf) {
  auto grammar = parse_ebnf(ebnf);
  return grammar.ok() ? std::string("(no error)") : grammar.message();
}

TEST(EbnfParser, LiteralsClassesGroupsAndQuantifiers) {
  const std::string g = R"(
    # a comment
    root ::= greeting ("," name){1,3} "!"?   # trailing comment
    greeting ::= "hi" | 'hello'
    name ::= [A-Z] [a-z\-]* | "\u00e9\x41"
  )";
  EXPECT_TRUE(matches(g, "hi,Ann"));
  EXPECT_TRUE(matches(g, "hello,Bo-b,C,D!"));
  EXPECT_TRUE(matches(g, "hi,\xC3\xA9" "A"));
  EXPECT_FALSE(matches(g, "hi"));
  EXPECT_FALSE(matches(g, "hi,A,B,C,D"));
}

TEST(EbnfParser, RulesSpanLinesAndMayComeInAnyOrder) {
  const std::string g = "root ::= a\n  | b\n  b\na ::= \"x\"\nb ::= [^x]";
  EXPECT_TRUE(matches(g, "x"));
  EXPECT_TRUE(matches(g, "yz"));
  EXPECT_FALSE(matches(g, "xx"));
}

TEST(EbnfParser, RepetitionForms) {
  EXPECT_TRUE(matches("root ::= \"a\"{2}", "aa"));
  EXPECT_FALSE(matches("root ::= \"a\"{2}", "aaa"));
  EXPECT_TRUE(matches("root ::= \"a\"{2,}", "aaaaa"));
  EXPECT_TRUE(matches("root ::= \"a\"{,2}", ""));
  EXPECT_FALSE(matches("root ::= \"a\"{,2}", "aaa"));
  EXPECT_TRUE(matches("root ::= \"a\"+ \"b\"*", "aab"));
  EXPECT_TRUE(matches("root ::= .+", "\xE2\x82\xAC\n"));
}

TEST(EbnfParser, LookaheadAssertionIsAccepted) {
  EXPECT_TRUE(matches("root ::= item \";\"\nitem ::= [a-z]+ (= \";\")", "abc;"));
}

TEST(EbnfParser, ErrorsNameTheLineAndColumn) {
  EXPECT_EQ(error_of("root ::= \"a\" | (\"b\""), "line 1, column 20: expected ')'");
  EXPECT_EQ(error_of("root ::= x"), "rule 'x' is used at line 1 but never defined");
  EXPECT_EQ(error_of("start ::= \"a\""), "the grammar has no rule named 'root'");
  EXPECT_EQ(error_of("root ::= \"a\"\nroot ::= \"b\""), "line 2, column 9: rule 'root' is defined twice");
  EXPECT_EQ(error_of("root ::= [z-a]"), "line 1, column 14: character range is out of order");
  EXPECT_EQ(error_of("root ::= \"a\\q\""), "line 1, column 12: unknown escape '\\q'");
  EXPECT_EQ(error_of("root ::= \"abc"), "line 1, column 14: unterminated string");
  EXPECT_EQ(error_of("root ::= \"a\"{3,2}"), "line 1, column 18: repetition {3,2} has max < min");
  EXPECT_EQ(error_of("root := \"a\""), "line 1, column 6: expected '::=' after rule name 'root'");
  EXPECT_EQ(error_of("root ::= TagDispatch(\"a\")"), "line 1, column 21: 'TagDispatch(...)' is not supported: only rules, strings, classes and groups are");
}

TEST(EbnfParser, ARuleThatMatchesNothingIsAnError) {
  auto grammar = parse_ebnf("root ::= \"a\" root");
  ASSERT_TRUE(grammar.ok());
  auto automaton = Automaton::build(*grammar);
  ASSERT_FALSE(automaton.ok());
  EXPECT_EQ(automaton.message(), "rule 'root' matches no string");
}

}  // namespace
}  // namespace kiln::grammar
