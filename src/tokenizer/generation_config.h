// generation_config.json: the model's default sampling settings and its stop tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kiln::tokenizer {

struct GenerationConfig {
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;  // eos_token_id as one id or a list
  std::optional<int32_t> pad_token_id;
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int32_t> top_k;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<int32_t> max_new_tokens;
};

Result<GenerationConfig> load_generation_config(const std::filesystem::path& path);
// `name` stands for the file in error messages.
Result<GenerationConfig> parse_generation_config(std::string_view json_text,
                                                 const std::string& name);

}  // namespace kiln::tokenizer
