// What a tokenizer.json describes, as the Tokenizer needs it: filled by the parser
// (tokenizer_json.cc), used by Tokenizer. Internal to the tokenizer module.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/regex_splitter.h"
#include "tokenizer/string_id_map.h"

namespace kiln::tokenizer {

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
  StringIdMap id_of_token;  // views of token_text

  // TemplateProcessing of a single sequence.
  std::vector<int32_t> prefix_ids;
  std::vector<int32_t> suffix_ids;
};

// Parses tokenizer.json text; `name` (the path) prefixes every error.
Result<std::unique_ptr<TokenizerParts>> parse_tokenizer_json(std::string_view json_text,
                                                             const std::string& name);

}  // namespace kiln::tokenizer
