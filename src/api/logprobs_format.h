// Logprobs in the two OpenAI formats vLLM returns: chat's {"content": [{token, logprob, bytes,
// top_logprobs}]} and completions' {text_offset, token_logprobs, tokens, top_logprobs}.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "api/prompt_codec.h"
#include "engine/request_output.h"

namespace kiln::api {

// vLLM clamps -inf to -9999.0 so that the JSON stays valid.
double clamp_logprob(float logprob);

// The "content" list entries for generated tokens (chat).
Json chat_logprob_entries(const std::vector<TokenLogprob>& logprobs, int top_logprobs,
                          const TextCodec& codec);

// vLLM's `prompt_logprobs`: null when not asked for, else one entry per prompt token, the first
// null, then {"<token id>": {"logprob", "rank", "decoded_token"}} holding the prompt token (its
// own rank) and the top ones (ranks 1..N). A token among the top appears once, at its first
// place with the top entry's values, as Python's dict keeps it.
Json prompt_logprobs_json(const std::optional<std::vector<std::optional<TokenLogprob>>>& prompt_logprobs,
                          const TextCodec& codec);

// Builds the completions logprobs object token by token; text offsets count Unicode code points
// as Python's len() does.
class CompletionLogprobs {
 public:
  explicit CompletionLogprobs(int initial_text_offset) : next_offset_(initial_text_offset) {}
  // A prompt token with no logprob (the first prompt token), or any token with one.
  void add(int32_t token_id, const TokenLogprob* logprob, int num_top, const TextCodec& codec);
  bool empty() const { return tokens_.empty(); }
  Json to_json() const;
  // Only the entries added since the last call (streaming), then forgets them.
  Json take_json();

 private:
  int next_offset_;
  std::vector<int> text_offsets_;
  Json token_logprobs_ = Json::array();
  std::vector<std::string> tokens_;
  Json top_logprobs_ = Json::array();
};

int count_code_points(const std::string& text);

}  // namespace kiln::api
