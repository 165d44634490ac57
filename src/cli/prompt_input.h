// Turning what `kiln generate` and `kiln tokenize` are given (plain text, a chat message or
// conversation, or token ids) into prompt token ids, from a model folder's tokenizer files.
// Prompts are encoded as they are: a rendered chat template already holds BOS, so special
// tokens are added only when asked (--add-special-tokens), as the tokenizer config says.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace kiln::cli {

struct PromptTokenizer {
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  // nullopt when the folder has no tokenizer_config.json (chat and BOS are then unavailable).
  std::optional<tokenizer::TokenizerConfig> config;
  tokenizer::SpecialTokenIds special;
};

// Reads DIR/tokenizer.json (required), DIR/tokenizer_config.json and DIR/generation_config.json
// (optional). Errors name the file at fault.
Result<PromptTokenizer> load_prompt_tokenizer(const std::filesystem::path& model_dir);

// "1,2,3" (spaces allowed around the commas) -> {1, 2, 3}; each id must be in [0, vocab_size).
// `flag` names the flag in errors ("--prompt-ids: '12x' is not a token id").
Result<std::vector<int32_t>> parse_token_ids(std::string_view text, int vocab_size, const std::string& flag);

// A chat conversation from a JSON file: a list of messages, or an object with "messages".
Result<nlohmann::json> load_messages_file(const std::filesystem::path& path);

// The conversation rendered by the folder's chat template (the "default" one), with the
// config's bos/eos strings.
Result<std::string> render_chat(const PromptTokenizer& prompt_tokenizer, const nlohmann::json& messages,
                                bool add_generation_prompt);

// `text` encoded without special tokens; with `add_special_tokens`, BOS first when the
// tokenizer config says so (add_bos_token, else tokenizer.json's post-processor).
std::vector<int32_t> encode_prompt(const PromptTokenizer& prompt_tokenizer, std::string_view text,
                                   bool add_special_tokens);

}  // namespace kiln::cli
