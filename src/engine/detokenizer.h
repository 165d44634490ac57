// What the engine needs from a tokenizer to stream text: an incremental detokenizer per
// sequence that turns one token at a time into newly complete UTF-8 text. The tokenizer layer's
// StreamingDetokenizer is wrapped into this by the code that builds the Engine (cli/server), so
// the engine does not depend on the tokenizer library; tests use a fake.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace kiln {

class IncrementalDetokenizer {
 public:
  virtual ~IncrementalDetokenizer() = default;
  // Adds the next generated token; returns the text that became complete (possibly empty while
  // a multi-byte character or a merge is pending).
  virtual std::string add(int32_t token_id) = 0;
  // The rest when the sequence ends (e.g. an incomplete character as U+FFFD).
  virtual std::string flush() { return ""; }
};

// Makes the detokenizer of one sequence; `prompt_token_ids` give it the context that the first
// generated token's text depends on (e.g. a leading space).
using DetokenizerFactory = std::function<std::unique_ptr<IncrementalDetokenizer>(
    std::span<const int32_t> prompt_token_ids, bool skip_special_tokens)>;

}  // namespace kiln
