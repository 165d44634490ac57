// Chat completion responses from the engine's outputs: the whole response at once
// (ChatResponseAccumulator) or as SSE chunks (ChatStreamWriter), in vLLM's shapes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/openai_request.h"
#include "api/response_common.h"
#include "api/tool_call_response.h"

namespace kiln::api {

struct ChatOptions {
  int n = 1;
  bool logprobs = false;
  int top_logprobs = 0;
  StreamOptions stream_options;
  std::optional<ToolCallOptions> tools;  // read tool calls from the content (api/tool_call_response.h)
};

class ChatResponseAccumulator {
 public:
  ChatResponseAccumulator(ResponseContext context, ChatOptions options);
  void add(const RequestOutput& output);
  // {"id", "object": "chat.completion", "created", "model", "choices", "usage", "prompt_logprobs"}
  Json build() const;
  int num_prompt_tokens() const { return num_prompt_tokens_; }
  int num_completion_tokens() const;

 private:
  ResponseContext context_;
  ChatOptions options_;
  std::vector<AccumulatedChoice> choices_;
  int num_prompt_tokens_ = 0;
  int num_cached_tokens_ = 0;
  std::optional<std::vector<std::optional<TokenLogprob>>> prompt_logprobs_;  // when asked for
};

class ChatStreamWriter {
 public:
  ChatStreamWriter(ResponseContext context, ChatOptions options);
  // The SSE events for this output: on the first call, the role chunk of every choice first.
  std::string on_output(const RequestOutput& output);
  // The usage chunk (with include_usage) and [DONE].
  std::string finish();
  int num_prompt_tokens() const { return num_prompt_tokens_; }
  int num_completion_tokens() const;

 private:
  struct Choice {
    ReasoningStreamParser reasoning;
    std::optional<ToolCallDeltaStream> tools;
    int num_tokens = 0;
    bool finished = false;
  };
  UsageCounts usage() const;
  Json delta_json(const ReasoningSplit& parts, const std::string& text) const;

  ResponseContext context_;
  ChatOptions options_;
  ChunkStream stream_;
  std::vector<Choice> choices_;
  bool started_ = false;
  int num_prompt_tokens_ = 0;
  int num_cached_tokens_ = 0;
};

}  // namespace kiln::api
