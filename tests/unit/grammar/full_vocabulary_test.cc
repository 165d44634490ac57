// The mask over the real 128k vocabulary against the matcher's own token-by-token answer (accept
// then roll back) for every token, along random walks: this checks the per-state token classes,
// their caller refinement and the uncertain-token walk against plain Earley stepping. Also
// rollback over several tokens, and the stop token.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "deepseek_vocab_test.h"
#include "grammar/ebnf_parser.h"
#include "grammar/json_schema.h"
#include "walk_check.h"

namespace kiln::grammar {
namespace {

using testing::bit;

void check_full_vocabulary(const Grammar& grammar, int num_walks, int max_steps, int check_every) {
  auto vocab = testing::deepseek_vocabulary();
  ASSERT_NE(vocab, nullptr);
  auto compiled = testing::compile(grammar, vocab);
  std::vector<uint32_t> words(static_cast<size_t>(vocab->bitmask_words()));
  std::mt19937 rng(5);
  int checked_steps = 0;
  for (int walk = 0; walk < num_walks; ++walk) {
    GrammarMatcher matcher(compiled);
    std::vector<int32_t> accepted;
    for (int step = 0; step < max_steps; ++step) {
      matcher.fill_next_token_bitmask(words);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab->size(); ++id) {
        if (bit(words, id)) allowed.push_back(id);
      }
      if (step % check_every == 0) {
        ++checked_steps;
        for (int32_t id = 0; id < vocab->size(); ++id) {
          const bool direct = matcher.accept_token(id);
          if (direct) matcher.rollback(1);
          ASSERT_EQ(bit(words, id), direct) << "token " << id << " '" << vocab->bytes(id) << "' at step " << step;
        }
      }
      ASSERT_FALSE(allowed.empty());
      // Finish once in a while when the output is complete; otherwise favour short tokens so
      // that walks get through structure rather than staying in one long string.
      if (bit(words, testing::kDeepSeekEos) && rng() % 3 == 0) break;
      int32_t next = allowed[rng() % allowed.size()];
      for (int tries = 0; tries < 4 && vocab->bytes(next).size() > 2; ++tries) next = allowed[rng() % allowed.size()];
      if (next == testing::kDeepSeekEos) break;
      ASSERT_TRUE(matcher.accept_token(next));
      accepted.push_back(next);
    }
    // Rolling back k tokens gives the mask of replaying the first n - k.
    if (accepted.size() >= 4) {
      const int k = static_cast<int>(rng() % 4) + 1;
      matcher.rollback(k);
      std::vector<uint32_t> after_rollback(words.size());
      matcher.fill_next_token_bitmask(after_rollback);
      GrammarMatcher replay(compiled);
      for (size_t i = 0; i + static_cast<size_t>(k) < accepted.size(); ++i) ASSERT_TRUE(replay.accept_token(accepted[i]));
      std::vector<uint32_t> replayed(words.size());
      replay.fill_next_token_bitmask(replayed);
      ASSERT_EQ(after_rollback, replayed) << "after rolling back " << k << " of " << accepted.size();
    }
  }
  EXPECT_GE(checked_steps, num_walks * 2) << "the walks ended too early to check much";
}

TEST(FullVocabulary, JsonSchemaWithNestingAndStrings) {
  auto grammar = json_schema_to_grammar(R"({"type":"object","properties":{
      "name":{"type":"string"},"id":{"type":"integer","minimum":1},
      "tags":{"type":"array","items":{"type":"string","maxLength":20},"maxItems":3},
      "owner":{"type":"object","properties":{"email":{"type":"string","format":"email"},"score":{"type":"number"}},"required":["email"]},
      "meta":{}},"required":["name","id"]})");
  ASSERT_TRUE(grammar.ok()) << grammar.message();
  check_full_vocabulary(*grammar, 4, 60, 6);
}

TEST(FullVocabulary, RecursiveGrammarWithSharedRules) {
  auto grammar = parse_ebnf(R"(
    root ::= "<" item ("," item)* ">"
    item ::= word | "<" item ("," item)* ">" | "\"" [^"\\]* "\""
    word ::= [a-z]+
  )");
  ASSERT_TRUE(grammar.ok()) << grammar.message();
  check_full_vocabulary(*grammar, 4, 50, 5);
}

TEST(FullVocabulary, AnyJsonObject) { check_full_vocabulary(json_object_grammar(), 4, 50, 7); }

TEST(FullVocabulary, StopTokenOnlyWhenComplete) {
  auto vocab = testing::deepseek_vocabulary();
  ASSERT_NE(vocab, nullptr);
  auto grammar = parse_ebnf("root ::= \"yes\" | \"no\"");
  ASSERT_TRUE(grammar.ok());
  GrammarMatcher matcher(testing::compile(*grammar, vocab));
  std::vector<uint32_t> words(static_cast<size_t>(vocab->bitmask_words()));
  matcher.fill_next_token_bitmask(words);
  EXPECT_FALSE(bit(words, testing::kDeepSeekEos));
  EXPECT_FALSE(matcher.accept_token(testing::kDeepSeekEos));
  ASSERT_TRUE(matcher.accept_bytes("yes"));
  matcher.fill_next_token_bitmask(words);
  int allowed = 0;
  for (int32_t id = 0; id < vocab->size(); ++id) allowed += bit(words, id);
  EXPECT_EQ(allowed, 1);
  EXPECT_TRUE(bit(words, testing::kDeepSeekEos));
  EXPECT_TRUE(matcher.accept_token(testing::kDeepSeekEos));
  EXPECT_TRUE(matcher.is_terminated());
  EXPECT_FALSE(matcher.accept_bytes("x"));
  matcher.rollback(1);
  EXPECT_FALSE(matcher.is_terminated());
  EXPECT_TRUE(matcher.is_complete());
}

}  // namespace
}  // namespace kiln::grammar
