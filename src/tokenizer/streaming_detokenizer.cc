#include "tokenizer/streaming_detokenizer.h"

#include <span>

#include "base/utf8.h"

namespace kiln::tokenizer {

StreamingDetokenizer::StreamingDetokenizer(std::shared_ptr<const Tokenizer> tokenizer,
                                           bool skip_special_tokens)
    : tokenizer_(std::move(tokenizer)), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDetokenizer::push(int32_t token_id) {
  // decode() of one id applies the same filters (unknown ids, skipped special tokens) as of
  // all ids together; its bytes are the token's raw bytes unless they are invalid UTF-8, so
  // take the raw bytes and let the lossy conversion below see them in context.
  if (token_id < 0 || token_id >= tokenizer_->vocab_size()) return {};
  if (skip_special_tokens_ && tokenizer_->is_special(token_id)) return {};
  pending_ += tokenizer_->token_bytes(token_id);
  // Everything but a trailing incomplete-yet-valid sequence is final: from_utf8_lossy decides
  // each byte from the bytes before it and, for an invalid subpart, the byte that ends it.
  const size_t hold = utf8_incomplete_tail(pending_);
  const std::string_view ready(pending_.data(), pending_.size() - hold);
  std::string text;
  append_utf8_lossy(ready, &text);
  pending_.erase(0, ready.size());
  return text;
}

std::string StreamingDetokenizer::flush() {
  std::string text = utf8_lossy(pending_);
  pending_.clear();
  return text;
}

}  // namespace kiln::tokenizer
