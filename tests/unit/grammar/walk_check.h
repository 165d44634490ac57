// Random-walk checks of the matcher against the reference oracle (reference_matcher.h) over a
// small vocabulary: at every step a token is allowed exactly when the text with it is still a
// prefix of some sentence, stop tokens exactly when the text is a sentence, every prefix can be
// finished, and a rejected token leaves the matcher unchanged.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "grammar/compiled_grammar.h"
#include "grammar/grammar_matcher.h"
#include "reference_matcher.h"

namespace kiln::grammar::testing {

inline constexpr int32_t kStop = 0;

// Id 0 is the stop token; the rest are the given strings.
inline std::shared_ptr<const Vocabulary> make_vocabulary(const std::vector<std::string>& tokens) {
  std::vector<std::string> bytes{""};
  bytes.insert(bytes.end(), tokens.begin(), tokens.end());
  return Vocabulary::create(std::move(bytes), {}, {kStop});
}

// Every string of length 1..2 over `alphabet`, and a few longer ones.
inline std::vector<std::string> tokens_over(const std::string& alphabet, std::mt19937* rng) {
  std::vector<std::string> out;
  for (char a : alphabet) {
    out.emplace_back(1, a);
    for (char b : alphabet) out.push_back(std::string{a, b});
  }
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(3, 7);
  for (int i = 0; i < 200; ++i) {
    std::string t;
    for (int k = length(*rng); k > 0; --k) t += alphabet[pick(*rng)];
    out.push_back(t);
  }
  return out;
}

inline std::shared_ptr<const CompiledGrammar> compile(const Grammar& g, std::shared_ptr<const Vocabulary> vocab) {
  auto automaton = Automaton::build(g);
  EXPECT_TRUE(automaton.ok()) << automaton.message();
  return std::make_shared<CompiledGrammar>(std::move(automaton).value(), std::move(vocab));
}

inline bool bit(const std::vector<uint32_t>& words, int32_t id) { return (words[static_cast<size_t>(id) / 32] >> (id % 32)) & 1; }

// Random walks: at each step the mask must equal the reference's answer for every token.
// `extra_tokens` join the generated ones over `alphabet`; `what` names the grammar in failures.
inline void check_walks(const Grammar& grammar_value, const std::string& what, const std::string& alphabet,
                        const std::vector<std::string>& extra_tokens, int num_walks, int max_steps) {
  std::mt19937 rng(1234);
  const Grammar* grammar = &grammar_value;
  std::vector<std::string> tokens = tokens_over(alphabet, &rng);
  tokens.insert(tokens.end(), extra_tokens.begin(), extra_tokens.end());
  auto vocab = make_vocabulary(tokens);
  auto compiled = compile(*grammar, vocab);
  std::vector<uint32_t> words(static_cast<size_t>(vocab->bitmask_words()));
  for (int walk = 0; walk < num_walks; ++walk) {
    GrammarMatcher matcher(compiled);
    std::string text;
    for (int step = 0; step < max_steps; ++step) {
      matcher.fill_next_token_bitmask(words);
      testing::ReferenceMatcher whole(*grammar, text);
      ASSERT_EQ(bit(words, kStop), whole.is_sentence()) << "stop token after '" << text << "'";
      ASSERT_EQ(matcher.is_complete(), whole.is_sentence()) << text;
      std::vector<int32_t> allowed;
      for (int32_t id = 1; id < vocab->size(); ++id) {
        testing::ReferenceMatcher reference(*grammar, text + vocab->bytes(id));
        ASSERT_EQ(bit(words, id), reference.is_prefix())
            << "token '" << vocab->bytes(id) << "' after '" << text << "' in\n" << what;
        if (bit(words, id)) allowed.push_back(id);
      }
      // Every prefix the walk reaches can still be finished: when no token fits, some byte the
      // vocabulary lacks must.
      if (allowed.empty() && !bit(words, kStop)) {
        bool some_byte = false;
        for (int b = 0; b < 256 && !some_byte; ++b) some_byte = testing::ReferenceMatcher(*grammar, text + static_cast<char>(b)).is_prefix();
        ASSERT_TRUE(some_byte) << "dead end after '" << text << "'";
        break;
      }
      if (allowed.empty() || (bit(words, kStop) && rng() % 4 == 0)) {
        ASSERT_TRUE(matcher.accept_token(kStop));
        break;
      }
      const int32_t next = allowed[rng() % allowed.size()];
      ASSERT_TRUE(matcher.accept_token(next));
      text += vocab->bytes(next);
      // A rejected token leaves the matcher as it was.
      for (int32_t id = 1; id < vocab->size(); ++id) {
        testing::ReferenceMatcher reference(*grammar, text + vocab->bytes(id));
        if (!reference.is_prefix()) {
          ASSERT_FALSE(matcher.accept_token(id));
          break;
        }
      }
    }
  }
}

}  // namespace kiln::grammar::testing
