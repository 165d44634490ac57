// Completions responses (POST /v1/completions), whole or streamed, in vLLM's shapes. A request
// with several prompts runs one engine request per prompt; choice index = prompt * n + index.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/logprobs_format.h"
#include "api/openai_request.h"
#include "api/request_preparation.h"
#include "api/response_common.h"

namespace kiln::api {

struct CompletionOptions {
  int n = 1;
  bool echo = false;
  std::optional<int> logprobs;
  StreamOptions stream_options;
};

class CompletionResponseAccumulator {
 public:
  CompletionResponseAccumulator(ResponseContext context, CompletionOptions options,
                                std::vector<PreparedPrompt> prompts);
  void add(int prompt_index, const RequestOutput& output);
  Json build() const;
  int num_prompt_tokens() const;
  int num_completion_tokens() const;

 private:
  ResponseContext context_;
  CompletionOptions options_;
  std::vector<PreparedPrompt> prompts_;
  std::vector<std::optional<std::vector<std::optional<TokenLogprob>>>> prompt_logprobs_;
  std::vector<AccumulatedChoice> choices_;  // [num_prompts * n]
  int num_cached_tokens_ = 0;
};

class CompletionStreamWriter {
 public:
  CompletionStreamWriter(ResponseContext context, CompletionOptions options,
                         std::vector<PreparedPrompt> prompts);
  std::string on_output(int prompt_index, const RequestOutput& output);
  std::string finish();
  int num_prompt_tokens() const;
  int num_completion_tokens() const;

 private:
  struct Choice {
    bool started = false;
    bool finished = false;
    int num_tokens = 0;
    std::optional<CompletionLogprobs> logprobs;
  };
  UsageCounts usage() const;

  ResponseContext context_;
  CompletionOptions options_;
  ChunkStream stream_;
  std::vector<PreparedPrompt> prompts_;
  std::vector<Choice> choices_;
  int num_cached_tokens_ = 0;
};

}  // namespace kiln::api
