#include "cli/tokenizer_adapters.h"

#include <string>

#include "tokenizer/streaming_detokenizer.h"

namespace kiln::cli {
namespace {

class TokenizerDetokenizer : public IncrementalDetokenizer {
 public:
  TokenizerDetokenizer(std::shared_ptr<const tokenizer::Tokenizer> tokenizer, bool skip_special_tokens)
      : detokenizer_(std::move(tokenizer), skip_special_tokens) {}
  std::string add(int32_t token_id) override { return detokenizer_.push(token_id); }
  std::string flush() override { return detokenizer_.flush(); }

 private:
  tokenizer::StreamingDetokenizer detokenizer_;
};

}  // namespace

DetokenizerFactory make_detokenizer_factory(std::shared_ptr<const tokenizer::Tokenizer> tokenizer) {
  return [tokenizer](std::span<const int32_t>, bool skip_special_tokens)
             -> std::unique_ptr<IncrementalDetokenizer> {
    return std::make_unique<TokenizerDetokenizer>(tokenizer, skip_special_tokens);
  };
}

GenerationDefaults generation_defaults_from_model(const ModelConfig& model) {
  GenerationDefaults d;
  for (int id : model.eos_token_ids) d.eos_token_ids.push_back(id);
  return d;
}

GenerationDefaults generation_defaults_from(const tokenizer::GenerationConfig& generation,
                                            const ModelConfig& model) {
  GenerationDefaults d = generation_defaults_from_model(model);
  if (!generation.eos_token_ids.empty()) d.eos_token_ids = generation.eos_token_ids;
  if (generation.temperature) d.temperature = static_cast<float>(*generation.temperature);
  if (generation.top_p) d.top_p = static_cast<float>(*generation.top_p);
  if (generation.top_k) d.top_k = *generation.top_k;
  if (generation.min_p) d.min_p = static_cast<float>(*generation.min_p);
  if (generation.repetition_penalty) {
    d.repetition_penalty = static_cast<float>(*generation.repetition_penalty);
  }
  return d;
}

}  // namespace kiln::cli
