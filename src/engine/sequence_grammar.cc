#include "engine/sequence_grammar.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/sequence.h"

namespace kiln {

bool SequenceGrammar::write_mask(const Sequence& seq, std::span<uint32_t> words) {
  const std::span<const int32_t> output = std::span<const int32_t>(seq.token_ids).subspan(static_cast<size_t>(seq.num_prompt_tokens));
  // Only tokens on the host: a pending one is the last, and the engine collects it before the
  // next mask is built (the sequence's sampling reads its output).
  int known = static_cast<int>(output.size());
  while (known > 0 && output[static_cast<size_t>(known) - 1] == kPendingToken) --known;
  if (start_ < 0) {
    if (after_token_ < 0) {
      start_ = 0;
    } else {
      const auto end = output.begin() + known;
      const auto at = std::find(output.begin(), end, after_token_);
      if (at == end) return false;
      start_ = static_cast<int>(at - output.begin()) + 1;
    }
  }
  const int constrained = std::max(0, known - start_);
  if (constrained < fed_) {  // the output lost tokens the matcher took
    matcher_.rollback(fed_ - constrained);
    fed_ = constrained;
    broken_ = false;
  }
  // After the grammar took an end-of-sequence token (kept going with ignore_eos) the output is
  // free again, as in vLLM: nothing more is fed and no mask is written.
  while (!broken_ && fed_ < constrained && !matcher_.is_terminated()) {
    if (!matcher_.accept_token(output[static_cast<size_t>(start_ + fed_)])) {
      broken_ = true;
      break;
    }
    ++fed_;
  }
  if (matcher_.is_terminated() && !broken_) return false;
  std::memset(words.data(), 0, words.size_bytes());
  if (broken_) return true;
  const size_t needed = static_cast<size_t>(matcher_.grammar().vocabulary().bitmask_words());
  if (needed <= words.size()) {
    matcher_.fill_next_token_bitmask(words);
  } else {  // the grammar knows more ids than the model samples from: those stay masked
    std::vector<uint32_t> wide(needed);
    matcher_.fill_next_token_bitmask(wide);
    std::copy_n(wide.begin(), words.size(), words.begin());
  }
  return true;
}

}  // namespace kiln
