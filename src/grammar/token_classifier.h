// Decides, once per automaton state, which tokens it lets through (the XGrammar idea: most tokens
// are accepted or rejected by a state whatever surrounds its rule, so only the few that may run
// past the end of the rule need the full context at run time).
//
// For a state s of rule R, walking a token's bytes from s inside R's frame:
//   accepted:  the whole token is consumed inside R (it may also end R exactly at its last byte);
//   uncertain: R may end inside the token and the byte after that end may follow R somewhere in
//              the grammar; whether the rest fits depends on R's caller;
//   rejected:  neither.
// refine() narrows a state's uncertain tokens for one caller state (the DFA state of the rule
// that referenced R, at its edge on R): the rest of the token is walked in the caller's rule, and
// only tokens that may end the caller's rule as well remain uncertain.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "grammar/automaton.h"
#include "grammar/earley_runner.h"
#include "grammar/vocabulary.h"

namespace kiln::grammar {

// A set of token ids: a sorted id list when small, bitmask words when large.
class TokenSet {
 public:
  static TokenSet from_ids(std::vector<int32_t> ids, int vocab_size);
  void or_into(uint32_t* words) const;
  bool contains(int32_t id) const;
  int64_t count() const { return count_; }
  size_t memory_bytes() const { return ids_.size() * sizeof(int32_t) + bits_.size() * sizeof(uint32_t); }

 private:
  std::vector<int32_t> ids_;
  std::vector<uint32_t> bits_;
  int64_t count_ = 0;
};

// The bytes of a token after a place where a rule may end inside it.
struct TokenRest {
  int32_t token = 0;
  uint16_t offset = 0;
};

struct StateTokens {
  TokenSet accepted;
  std::vector<int32_t> uncertain;  // ordered by bytes
  // What follows each place the rule may end inside uncertain[i]: rests[exit_rests[k]] for k in
  // [exit_begin[i], exit_begin[i + 1]). rests: distinct, ordered by bytes, so that refine()
  // walks each once, sharing prefixes.
  std::vector<int32_t> exit_begin;
  std::vector<int32_t> exit_rests;
  std::vector<TokenRest> rests;
};

struct CallerTokens {
  std::vector<int32_t> accepted;   // uncertain tokens of the state that this caller accepts
  std::vector<int32_t> uncertain;  // those that may end the caller's rule too; ordered by bytes
};

class TokenClassifier {
 public:
  TokenClassifier(const Automaton& automaton, const Vocabulary& vocabulary)
      : a_(automaton), vocab_(vocabulary), runner_(automaton) {}

  StateTokens classify(int32_t state);
  // `state` is in rule R; caller_state has an edge on R. Walks what follows each exit of each
  // uncertain token from that edge's target.
  CallerTokens refine(int32_t state, int32_t caller_state, const StateTokens& base);

 private:
  const Automaton& a_;
  const Vocabulary& vocab_;
  EarleyRunner runner_;
};

enum class TokenWalk : uint8_t { kAccepted, kExit, kRejected };

// Walks `strings` (ordered by bytes) from the runner's last set, sharing the work of common
// prefixes, and calls on_result(index, outcome) for each. kExit: the string dies inside, but the
// outermost rule could end before a byte in `follow` that the string goes on with (at the
// start only when `exit_at_start`). The runner is left as it was.
void walk_strings(EarleyRunner& runner, std::span<const std::string_view> strings, const ByteSet& follow,
                  bool exit_at_start, const std::function<void(size_t, TokenWalk)>& on_result);
// The same for tokens, by id.
void walk_tokens(EarleyRunner& runner, const Vocabulary& vocab, std::span<const int32_t> tokens,
                 const ByteSet& follow, bool exit_at_start,
                 const std::function<void(size_t, TokenWalk)>& on_result);

}  // namespace kiln::grammar
