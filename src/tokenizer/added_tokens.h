// Added tokens (special or not) are found in the raw text before pre-tokenization and BPE:
// leftmost match first and, among matches at one position, the longest (HF's Aho-Corasick with
// LeftmostLongest). lstrip/rstrip widen a match over neighbouring whitespace; single_word
// matches only when the token is not inside a word.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tokenizer {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A piece of the input: either an added token or text for the pre-tokenizer and BPE.
struct TextSegment {
  std::string_view text;
  int32_t added_token_id = -1;  // -1: ordinary text
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // Splits `text` (valid UTF-8) into segments, in order; their texts are views of `text`.
  void split(std::string_view text, std::vector<TextSegment>* segments) const;

 private:
  struct Node {
    // Children in a sorted byte list: the trie is small (a few hundred tokens).
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;  // index into tokens_ of the token ending here
  };
  int32_t child(int32_t node, unsigned char byte) const;
  // Length of the longest token starting at text[pos] and its index, or 0.
  size_t longest_match(std::string_view text, size_t pos, int32_t* token) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
};

}  // namespace kiln::tokenizer
