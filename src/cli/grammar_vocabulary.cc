#include "cli/grammar_vocabulary.h"

#include <string>
#include <vector>

namespace kiln::cli {

std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary(const tokenizer::Tokenizer& tokenizer, const ModelConfig& model) {
  std::vector<std::string> bytes;
  std::vector<int32_t> special;
  bytes.reserve(static_cast<size_t>(tokenizer.vocab_size()));
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    bytes.push_back(tokenizer.token_bytes(id));
    if (tokenizer.is_special(id)) special.push_back(id);
  }
  std::vector<int32_t> stop(model.eos_token_ids.begin(), model.eos_token_ids.end());
  return grammar::Vocabulary::create(std::move(bytes), special, std::move(stop));
}

}  // namespace kiln::cli
