// A sequence's structured-output state: its grammar matcher kept in step with the tokens that
// reached the host, and the token mask its next sampling row applies. The matcher follows the
// sequence's output: tokens are fed as they are collected, and taken back when the output is
// shorter than what was fed (a sequence recomputed after preemption, a dropped token). With a
// reasoning model the constraint starts after the end-of-thinking token.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "grammar/grammar_matcher.h"

namespace kiln {

struct Sequence;

class SequenceGrammar {
 public:
  // after_token >= 0: the constraint starts after the first output token equal to it.
  SequenceGrammar(std::shared_ptr<const grammar::CompiledGrammar> grammar, int32_t after_token)
      : matcher_(std::move(grammar)), after_token_(after_token) {}

  // Brings the matcher up to the sequence's output tokens on the host and writes the mask of
  // its next token into `words` (the model's vocabulary width; tokens past the grammar's
  // vocabulary are masked). False, writing nothing, while the constraint has not started. A
  // token the grammar did not allow (none can be sampled under the mask) leaves an empty mask,
  // which makes the sampler report that nothing is allowed. Once the grammar took an
  // end-of-sequence token (a sequence that ignores EOS goes on) the output is free again.
  bool write_mask(const Sequence& seq, std::span<uint32_t> words);

  const grammar::GrammarMatcher& matcher() const { return matcher_; }

 private:
  grammar::GrammarMatcher matcher_;
  int32_t after_token_;
  int start_ = -1;     // output index where the constrained part begins; -1 until known
  int fed_ = 0;        // output tokens from start_ the matcher took
  bool broken_ = false;  // a fed token was not allowed
};

}  // namespace kiln
