// The model's special token ids, resolved from its three tokenizer files the way transformers
// does: BOS/EOS/PAD strings of tokenizer_config.json looked up in the tokenizer, stop ids from
// generation_config.json (which may list several) and tokenizer_config's EOS.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "tokenizer/generation_config.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace kiln::tokenizer {

struct SpecialTokenIds {
  std::optional<int32_t> bos_id;
  std::optional<int32_t> pad_id;
  // Generation stops on any of these: generation_config's eos_token_id(s), then
  // tokenizer_config's eos_token if not already listed.
  std::vector<int32_t> eos_ids;
  // Whether encoding with add_special_tokens puts BOS first: tokenizer_config's add_bos_token
  // when given (transformers' Llama tokenizers rebuild their post-processor from it), else
  // whether tokenizer.json's post-processor adds it.
  bool add_bos = false;
};

// `generation_config` may be null (the file is optional). Errors name the config field whose
// token is not in the tokenizer.
Result<SpecialTokenIds> resolve_special_tokens(const Tokenizer& tokenizer,
                                               const TokenizerConfig& tokenizer_config,
                                               const GenerationConfig* generation_config);

}  // namespace kiln::tokenizer
