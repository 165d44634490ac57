#include "api/chat_response.h"

#include <algorithm>

#include "api/logprobs_format.h"

namespace kiln::api {
namespace {

Json optional_text(const std::optional<std::string>& text) {
  return text ? Json(*text) : Json(nullptr);
}

}  // namespace

ChatResponseAccumulator::ChatResponseAccumulator(ResponseContext context, ChatOptions options)
    : context_(std::move(context)), options_(options), choices_(static_cast<size_t>(options.n)) {}

void ChatResponseAccumulator::add(const RequestOutput& output) {
  if (output.num_prompt_tokens) num_prompt_tokens_ = output.num_prompt_tokens;
  num_cached_tokens_ = std::max(num_cached_tokens_, output.num_cached_tokens);
  if (output.prompt_logprobs) prompt_logprobs_ = output.prompt_logprobs;
  for (const CompletionOutput& out : output.outputs) {
    if (out.index < 0 || out.index >= static_cast<int>(choices_.size())) continue;
    choices_[static_cast<size_t>(out.index)].add(out);
  }
}

int ChatResponseAccumulator::num_completion_tokens() const { return total_num_tokens(choices_); }

Json ChatResponseAccumulator::build() const {
  Json response = response_envelope(context_, "chat.completion");
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const AccumulatedChoice& choice = choices_[i];
    Json message;
    message["role"] = "assistant";
    if (context_.reasoning_parser == ReasoningParserKind::kDeepSeekR1) {
      const ReasoningSplit split = split_reasoning(choice.text);
      message["content"] = optional_text(split.content);
      message["reasoning_content"] = optional_text(split.reasoning);
      message["reasoning"] = optional_text(split.reasoning);
    } else {
      message["content"] = choice.text;
      message["reasoning_content"] = nullptr;
      message["reasoning"] = nullptr;
    }
    message["tool_calls"] = Json::array();
    const bool called = options_.tools && message["content"].is_string() &&
                        put_tool_calls(*options_.tools, message["content"].get<std::string>(), &message);
    Json entry;
    entry["index"] = static_cast<int>(i);
    entry["message"] = std::move(message);
    if (options_.logprobs) {
      Json logprobs;
      logprobs["content"] = chat_logprob_entries(choice.logprobs, options_.top_logprobs, *context_.codec);
      entry["logprobs"] = std::move(logprobs);
    } else {
      entry["logprobs"] = nullptr;
    }
    choice.put_finish(&entry);
    if (called && entry["finish_reason"] == "stop") entry["finish_reason"] = "tool_calls";
    choices.push_back(std::move(entry));
  }
  response["choices"] = std::move(choices);
  response["usage"] = usage_json(num_prompt_tokens_, num_completion_tokens(), num_cached_tokens_,
                                 context_.enable_prompt_tokens_details);
  // vLLM puts a chat request's prompt logprobs at the top level, not on the choices.
  response["prompt_logprobs"] = prompt_logprobs_json(prompt_logprobs_, *context_.codec);
  return response;
}

ChatStreamWriter::ChatStreamWriter(ResponseContext context, ChatOptions options)
    : context_(std::move(context)),
      options_(options),
      stream_(context_, "chat.completion.chunk", options.stream_options),
      choices_(static_cast<size_t>(options.n)) {
  if (options_.tools) {
    for (Choice& choice : choices_) choice.tools.emplace(*options_.tools);
  }
}

int ChatStreamWriter::num_completion_tokens() const { return total_num_tokens(choices_); }

UsageCounts ChatStreamWriter::usage() const {
  return {num_prompt_tokens_, num_completion_tokens(), num_cached_tokens_};
}

Json ChatStreamWriter::delta_json(const ReasoningSplit& parts, const std::string& text) const {
  Json delta = Json::object();
  if (context_.reasoning_parser == ReasoningParserKind::kDeepSeekR1) {
    if (parts.reasoning) {
      delta["reasoning_content"] = *parts.reasoning;
      delta["reasoning"] = *parts.reasoning;
    }
    if (parts.content) delta["content"] = *parts.content;
  } else if (!text.empty()) {
    delta["content"] = text;
  }
  return delta;
}

std::string ChatStreamWriter::on_output(const RequestOutput& output) {
  if (output.num_prompt_tokens) num_prompt_tokens_ = output.num_prompt_tokens;
  num_cached_tokens_ = std::max(num_cached_tokens_, output.num_cached_tokens);
  std::string events;
  if (!started_) {
    started_ = true;
    for (size_t i = 0; i < choices_.size(); ++i) {
      Json delta;
      delta["role"] = "assistant";
      delta["content"] = "";
      Json choice;
      choice["index"] = static_cast<int>(i);
      choice["delta"] = std::move(delta);
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = nullptr;
      events += stream_.event(Json::array({std::move(choice)}), usage());
    }
  }
  for (const CompletionOutput& out : output.outputs) {
    if (out.index < 0 || out.index >= static_cast<int>(choices_.size())) continue;
    Choice& state = choices_[static_cast<size_t>(out.index)];
    if (state.finished) continue;
    state.num_tokens = std::max(state.num_tokens, out.num_output_tokens);
    const bool finished = out.finish_reason != FinishReason::kNone;
    ReasoningSplit parts;
    if (context_.reasoning_parser == ReasoningParserKind::kDeepSeekR1) {
      parts = state.reasoning.feed(out.text_delta);
      if (finished) {
        ReasoningSplit rest = state.reasoning.flush();
        if (rest.reasoning) parts.reasoning = parts.reasoning.value_or("") + *rest.reasoning;
        if (rest.content) parts.content = parts.content.value_or("") + *rest.content;
      }
    }
    Json delta = delta_json(parts, out.text_delta);
    if (state.tools) {
      // The content (after the reasoning) goes through the tool-call parser.
      const std::string content = delta.contains("content") ? delta["content"].get<std::string>() : std::string();
      std::string text;
      Json calls;
      state.tools->feed(content, &text, &calls);
      if (finished) {
        std::string rest;
        Json more;
        state.tools->finish(&rest, &more);
        text += rest;
        for (Json& call : more) calls.push_back(std::move(call));
      }
      delta.erase("content");
      if (!text.empty()) delta["content"] = text;
      if (!calls.empty()) delta["tool_calls"] = std::move(calls);
    }
    // vLLM sends nothing for a step that produced no visible text (e.g. a held-back stop string
    // prefix) unless the choice finished in it.
    if (delta.empty() && !finished && out.logprobs.empty()) continue;
    Json choice;
    choice["index"] = out.index;
    choice["delta"] = std::move(delta);
    if (options_.logprobs && !out.logprobs.empty()) {
      Json logprobs;
      logprobs["content"] = chat_logprob_entries(out.logprobs, options_.top_logprobs, *context_.codec);
      choice["logprobs"] = std::move(logprobs);
    } else {
      choice["logprobs"] = nullptr;
    }
    choice["finish_reason"] = finish_reason_json(out.finish_reason);
    if (finished && state.tools && state.tools->called() && choice["finish_reason"] == "stop") {
      choice["finish_reason"] = "tool_calls";
    }
    if (finished) {
      choice["stop_reason"] = stop_reason_json(out.stop_reason);
      state.finished = true;
    }
    events += stream_.event(Json::array({std::move(choice)}), usage());
  }
  return events;
}

std::string ChatStreamWriter::finish() { return stream_.finish(usage()); }

}  // namespace kiln::api
