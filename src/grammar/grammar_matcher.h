// Tracks one sequence's output against a compiled grammar: which tokens may come next (a bitmask
// over the vocabulary), accepting the sampled token, taking the last tokens back (preemption,
// speculative tokens), and whether the output is complete.
//
// Not thread-safe: one matcher per sequence, used by one thread at a time. The compiled grammar
// it reads is shared.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "grammar/compiled_grammar.h"
#include "grammar/earley_runner.h"

namespace kiln::grammar {

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar);

  // Consumes one token and returns true, or returns false and changes nothing when the grammar
  // does not allow it here. A stop token is allowed only when the output is complete; after it
  // the matcher is terminated and allows nothing more.
  bool accept_token(int32_t token_id);
  // Consumes raw bytes as one step of the history (tests, forced text); same contract.
  bool accept_bytes(std::string_view bytes);
  // Takes back the last `num_steps` accepted tokens (or byte steps); clamps to what there is.
  void rollback(int num_steps);
  void reset();
  int num_steps() const { return static_cast<int>(history_.size()); }

  // The output so far is a whole match of the grammar: a stop token may come next.
  bool is_complete() const;
  bool is_terminated() const { return terminated_; }

  // Writes the tokens allowed next into `words` (vocabulary().bitmask_words() words; bit id % 32
  // of word id / 32 is set when token id is allowed). Stop tokens are allowed when complete.
  void fill_next_token_bitmask(std::span<uint32_t> words);

  const CompiledGrammar& grammar() const { return *grammar_; }
  // The Earley sets so far (for tools that look ahead, e.g. the shortest way to finish).
  const EarleyRunner& runner() const { return runner_; }

 private:
  struct Step {
    int32_t num_sets_before = 0;
    bool stop = false;
  };

  std::shared_ptr<const CompiledGrammar> grammar_;
  EarleyRunner runner_;
  std::vector<Step> history_;
  bool terminated_ = false;
  std::vector<int32_t> to_check_;  // scratch for fill_next_token_bitmask
};

}  // namespace kiln::grammar
