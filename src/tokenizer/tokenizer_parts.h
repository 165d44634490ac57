// What a tokenizer.json describes, as the Tokenizer needs it: filled by the parser
// (tokenizer_json.cc), used by Tokenizer. Internal to the tokenizer module.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/regex_splitter.h"

namespace kiln::tokenizer {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct TokenizerParts {
  std::unique_ptr<BpeModel> model;
  // Pre-tokenizer: the splits in order; each cuts every piece of the one before.
  std::vector<RegexSplitter> splits;
  // ByteLevel add_prefix_space: a space before a piece that does not start with one.
  bool add_prefix_space = false;

  std::vector<AddedToken> added_tokens;
  std::unique_ptr<AddedTokenMatcher> added_token_matcher;

  // Indexed by id, sized vocab_size: the token as written, its decoded bytes, and flags.
  std::vector<std::string> token_text;
  std::vector<std::string> token_bytes;
  std::vector<uint8_t> is_special;
  std::vector<uint8_t> is_added;
  std::vector<uint8_t> exists;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> id_of_token;

  // TemplateProcessing of a single sequence.
  std::vector<int32_t> prefix_ids;
  std::vector<int32_t> suffix_ids;
};

// Parses tokenizer.json text; `name` (the path) prefixes every error.
Result<std::unique_ptr<TokenizerParts>> parse_tokenizer_json(std::string_view json_text,
                                                             const std::string& name);

}  // namespace kiln::tokenizer
