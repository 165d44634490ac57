// Regular expressions against PCRE2: on random strings over a small alphabet, the grammar
// matches a string exactly when PCRE2 (anchored, UTF mode) matches all of it; and the errors for
// what a grammar cannot express.
#include <gtest/gtest.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <random>
#include <string>

#include "grammar/regex_parser.h"
#include "walk_check.h"

namespace kiln::grammar {
namespace {

class Pcre2 {
 public:
  explicit Pcre2(const std::string& pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                          &error, &offset, nullptr);
    EXPECT_NE(code_, nullptr) << pattern;
    data_ = pcre2_match_data_create(4, nullptr);
  }
  ~Pcre2() {
    pcre2_match_data_free(data_);
    pcre2_code_free(code_);
  }
  bool full_match(const std::string& s) const {
    return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, data_, nullptr) >= 0;
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* data_ = nullptr;
};

void compare_with_pcre2(const std::string& pattern, const std::string& alphabet, int max_length = 8) {
  auto grammar = regex_to_grammar(pattern);
  ASSERT_TRUE(grammar.ok()) << grammar.message();
  auto compiled = testing::compile(*grammar, testing::make_vocabulary({"x"}));
  Pcre2 pcre(pattern);
  std::mt19937 rng(99);
  int matched = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    for (int n = static_cast<int>(rng() % (max_length + 1)); n > 0; --n) s += alphabet[rng() % alphabet.size()];
    GrammarMatcher matcher(compiled);
    const bool ours = matcher.accept_bytes(s) && matcher.is_complete();
    ASSERT_EQ(ours, pcre.full_match(s)) << "pattern " << pattern << " on '" << s << "'";
    matched += ours;
  }
  EXPECT_GT(matched, 0) << pattern << ": no random string matched, the comparison says little";
}

TEST(Regex, AgreesWithPcre2) {
  compare_with_pcre2("a|b+c?", "abc");
  compare_with_pcre2("^(ab|a)*b$", "ab");
  compare_with_pcre2("[a-c]{2,3}-?\\d{1,2}", "abcd-0123");
  compare_with_pcre2("(?:x|y){0,3}z", "xyz");
  compare_with_pcre2("(?P<name>a+)(?<other>b)?", "ab");
  compare_with_pcre2("[^abc]+", "abcd\n");
  compare_with_pcre2("\\w\\W\\s\\S?", "a_ -\t9");
  compare_with_pcre2(".\\.", "a.\n");
  compare_with_pcre2("\\x41\\x{e9}[\\x{e0}-\\x{ea}]", "A\xC3\xA9\xC3\xA0");
  compare_with_pcre2("a+?b*?", "ab");
  compare_with_pcre2("[\\d-]+", "12-a");
  compare_with_pcre2("\\{\\}[{]x{", "{}x");
}

bool regex_matches(const std::string& pattern, const std::string& s) {
  auto grammar = regex_to_grammar(pattern);
  EXPECT_TRUE(grammar.ok()) << grammar.message();
  auto compiled = testing::compile(*grammar, testing::make_vocabulary({"x"}));
  GrammarMatcher matcher(compiled);
  return matcher.accept_bytes(s) && matcher.is_complete();
}

// Forms PCRE2 10.42 reads differently: {,m} as Python reads it, \uHHHH as ECMAScript and
// Python do.
// Spaces beyond ASCII: \s matches only ASCII ones, and a class that excludes \s excludes the
// Unicode ones too (ECMAScript's \s), so matches hold in every dialect.
TEST(Regex, UnicodeSpacesOnTheSafeSide) {
  EXPECT_TRUE(regex_matches("\\s", " "));
  EXPECT_FALSE(regex_matches("\\s", "\xC2\xA0"));          // U+00A0
  EXPECT_FALSE(regex_matches("[^\\s@]+", "a\xE2\x80\x89" "b"));  // U+2009
  EXPECT_FALSE(regex_matches("\\S+", "a\xE2\x80\x89" "b"));
  EXPECT_TRUE(regex_matches("[^\\S]", "\t"));
  EXPECT_FALSE(regex_matches("[^\\S]", "\xC2\xA0"));
}

TEST(Regex, PythonAndEcmaScriptForms) {
  EXPECT_TRUE(regex_matches("a{,2}b", "aab"));
  EXPECT_TRUE(regex_matches("a{,2}b", "b"));
  EXPECT_FALSE(regex_matches("a{,2}b", "aaab"));
  EXPECT_TRUE(regex_matches("\\u00e9\\u{1F600}", "\xC3\xA9\xF0\x9F\x98\x80"));
}

std::string error_of(const std::string& pattern) {
  auto grammar = regex_to_grammar(pattern);
  return grammar.ok() ? std::string("(no error)") : grammar.message();
}

TEST(Regex, UnsupportedFeaturesAreNamed) {
  EXPECT_EQ(error_of("a(?=b)"), "regex: at offset 2: lookaround assertions are not supported");
  EXPECT_EQ(error_of("(a)\\1"), "regex: at offset 5: backreferences are not supported");
  EXPECT_EQ(error_of("\\bword"), "regex: at offset 2: word boundary \\b is not supported");
  EXPECT_EQ(error_of("a++"), "regex: at offset 2: possessive quantifiers are not supported");
  EXPECT_EQ(error_of("(?i)a"), "regex: at offset 1: group '(?i' (inline flags or extensions) is not supported");
  EXPECT_EQ(error_of("\\p{L}"), "regex: at offset 2: Unicode property class \\p is not supported");
  EXPECT_EQ(error_of("a^b"), "regex: at offset 1: '^' is supported only at the start of the pattern");
  EXPECT_EQ(error_of("(ab"), "regex: at offset 3: missing ')'");
  EXPECT_EQ(error_of("ab)"), "regex: at offset 2: unbalanced ')'");
  EXPECT_EQ(error_of("*a"), "regex: at offset 0: nothing to repeat before '*'");
  EXPECT_EQ(error_of("[b-a]"), "regex: at offset 4: character range is out of order");
  EXPECT_EQ(error_of("a{3,2}"), "regex: at offset 6: repetition has max < min");
}

TEST(Regex, JsonStringContentEscapesWhatJsonEscapes) {
  Grammar g;
  const RuleId root = g.add_rule("root");
  RegexOptions options;
  options.json_string = true;
  auto body = parse_regex("a[\"\\\\\\n]b.", &g, options);
  ASSERT_TRUE(body.ok()) << body.message();
  g.set_body(root, *body);
  g.set_root(root);
  auto compiled = testing::compile(g, testing::make_vocabulary({"x"}));
  auto matches = [&](const std::string& s) {
    GrammarMatcher matcher(compiled);
    return matcher.accept_bytes(s) && matcher.is_complete();
  };
  EXPECT_TRUE(matches("a\\\"bx"));
  EXPECT_TRUE(matches("a\\\\b\\u001f"));
  EXPECT_TRUE(matches("a\\nb\\\""));
  EXPECT_FALSE(matches("a\"bx"));
  EXPECT_FALSE(matches("a\nbx"));
}

}  // namespace
}  // namespace kiln::grammar
