// Reads tokenizer.json in one streaming pass: model.vocab and model.merges (nearly all of the
// 9 MB of a Llama 3 file) go straight into flat vectors, the rest into a small JSON tree. A DOM
// of the whole file costs several times more time and memory, and every process that serves
// or tests a model loads it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kiln::tokenizer {

struct TokenizerJsonContents {
  nlohmann::json rest;  // the whole file without model.vocab and model.merges
  bool has_vocab = false;
  bool has_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;        // (token, id) in file order
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

// `name` (the path) prefixes every error.
Result<TokenizerJsonContents> read_tokenizer_json(std::string_view text, const std::string& name);

}  // namespace kiln::tokenizer
