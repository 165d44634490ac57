// Turns a stream of generated token ids into text as it comes, emitting only complete UTF-8:
// a token may end inside a multi-byte character (byte-level BPE splits emoji and CJK), so its
// bytes wait until the character is complete. The pieces concatenated (push...push, flush)
// equal Tokenizer::decode of all the ids, exactly.
//
// One per sequence; not thread-safe (the tokenizer it holds is).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace kiln::tokenizer {

class StreamingDetokenizer {
 public:
  StreamingDetokenizer(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special_tokens);

  // The text completed by this token (often empty while a character is incomplete).
  std::string push(int32_t token_id);
  // What is left: an incomplete character at the end becomes U+FFFD, as decode makes it.
  std::string flush();

  // Bytes held back, waiting for the rest of a character.
  size_t num_pending_bytes() const { return pending_.size(); }

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;
};

}  // namespace kiln::tokenizer
