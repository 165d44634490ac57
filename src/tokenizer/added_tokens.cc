#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode_class.h"
#include "base/utf8.h"

namespace kiln::tokenizer {
namespace {

// The last code point of text[0, end) (valid UTF-8, end > 0) and where it starts.
char32_t last_char(std::string_view text, size_t end, size_t* start) {
  size_t pos = end - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
  *start = pos;
  return next_code_point(text, &pos);
}

// Start of the whitespace run that ends at `end`.
size_t whitespace_run_start(std::string_view text, size_t end) {
  size_t start;
  while (end > 0 && is_unicode_whitespace(last_char(text, end, &start))) end = start;
  return end;
}

// End of the whitespace run that starts at `pos`.
size_t whitespace_run_end(std::string_view text, size_t pos) {
  while (pos < text.size()) {
    size_t next = pos;
    if (!is_unicode_whitespace(next_code_point(text, &next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) : tokens_(tokens) {
  nodes_.emplace_back();
  for (size_t index = 0; index < tokens_.size(); ++index) {
    const std::string& content = tokens_[index].content;
    if (content.empty()) continue;
    first_byte_[static_cast<unsigned char>(content[0])] = true;
    int32_t node = 0;
    for (unsigned char byte : content) {
      int32_t next = child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& children = nodes_[node].children;
        children.insert(std::upper_bound(children.begin(), children.end(),
                                         std::make_pair(byte, int32_t{-1})),
                        {byte, next});
      }
      node = next;
    }
    // Two tokens with the same content: the first one listed wins.
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int32_t>(index);
  }
}

int32_t AddedTokenMatcher::child(int32_t node, unsigned char byte) const {
  const auto& children = nodes_[node].children;
  const auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, -1));
  return it != children.end() && it->first == byte ? it->second : -1;
}

size_t AddedTokenMatcher::longest_match(std::string_view text, size_t pos,
                                        int32_t* token) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    node = child(node, static_cast<unsigned char>(text[i]));
    if (node < 0) break;
    if (nodes_[node].token >= 0) {
      best = i + 1 - pos;
      *token = nodes_[node].token;
    }
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment>* segments) const {
  size_t segment_start = 0;  // start of the ordinary text not yet emitted
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t index = -1;
    const size_t length = longest_match(text, pos, &index);
    if (length == 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t start = pos;
    size_t stop = pos + length;
    if (token.single_word) {
      size_t char_start;
      const bool word_before = start > 0 && is_unicode_alphanumeric(last_char(text, start, &char_start));
      size_t next = stop;
      const bool word_after = stop < text.size() && is_unicode_alphanumeric(next_code_point(text, &next));
      if (word_before || word_after) {
        // Not a match here; the search goes on inside the token's text, as Aho-Corasick does
        // after a rejected match (HF skips the match and continues after it).
        pos = stop;
        continue;
      }
    }
    if (token.lstrip) start = std::max(whitespace_run_start(text, start), segment_start);
    if (token.rstrip) stop = whitespace_run_end(text, stop);
    if (start > segment_start) {
      segments->push_back({text.substr(segment_start, start - segment_start), -1});
    }
    segments->push_back({text.substr(start, stop - start), token.id});
    segment_start = pos = stop;
  }
  if (segment_start < text.size()) segments->push_back({text.substr(segment_start), -1});
}

}  // namespace kiln::tokenizer
