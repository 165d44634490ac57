#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace kiln::tokenizer {
namespace {

Status lookup(const Tokenizer& tokenizer, const std::optional<std::string>& token,
              const char* field, std::optional<int32_t>* id) {
  if (!token) return ok_status();
  *id = tokenizer.token_to_id(*token);
  if (!*id) {
    return Status::error(std::string("tokenizer_config.json: ") + field + " \"" + *token +
                         "\" is not a token of tokenizer.json");
  }
  return ok_status();
}

}  // namespace

Result<SpecialTokenIds> resolve_special_tokens(const Tokenizer& tokenizer,
                                               const TokenizerConfig& tokenizer_config,
                                               const GenerationConfig* generation_config) {
  SpecialTokenIds ids;
  KILN_RETURN_IF_ERROR(lookup(tokenizer, tokenizer_config.bos_token, "bos_token", &ids.bos_id));
  KILN_RETURN_IF_ERROR(lookup(tokenizer, tokenizer_config.pad_token, "pad_token", &ids.pad_id));
  std::optional<int32_t> eos_id;
  KILN_RETURN_IF_ERROR(lookup(tokenizer, tokenizer_config.eos_token, "eos_token", &eos_id));
  if (generation_config) {
    ids.eos_ids = generation_config->eos_token_ids;
    if (!ids.bos_id && generation_config->bos_token_id) ids.bos_id = generation_config->bos_token_id;
    if (!ids.pad_id && generation_config->pad_token_id) ids.pad_id = generation_config->pad_token_id;
  }
  if (eos_id && std::find(ids.eos_ids.begin(), ids.eos_ids.end(), *eos_id) == ids.eos_ids.end()) {
    ids.eos_ids.push_back(*eos_id);
  }
  if (!ids.bos_id) ids.bos_id = tokenizer.bos_token_id();
  ids.add_bos = tokenizer_config.add_bos_token.value_or(tokenizer.bos_token_id().has_value());
  return ids;
}

}  // namespace kiln::tokenizer
