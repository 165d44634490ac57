#include "api/completion_response.h"

#include "api/sse.h"

namespace kiln::api {
namespace {

// Adds the prompt's tokens (echo) to `logprobs`: the first has no logprob.
void add_prompt_logprobs(CompletionLogprobs& logprobs, const PreparedPrompt& prompt,
                         const std::optional<std::vector<std::optional<TokenLogprob>>>& prompt_lps,
                         int num_top, const TextCodec& codec) {
  for (size_t i = 0; i < prompt.token_ids.size(); ++i) {
    const TokenLogprob* lp = nullptr;
    if (prompt_lps && i < prompt_lps->size() && (*prompt_lps)[i]) lp = &*(*prompt_lps)[i];
    logprobs.add(prompt.token_ids[i], i == 0 ? nullptr : lp, num_top, codec);
  }
}

}  // namespace

CompletionResponseAccumulator::CompletionResponseAccumulator(ResponseContext context,
                                                             CompletionOptions options,
                                                             std::vector<PreparedPrompt> prompts)
    : context_(std::move(context)),
      options_(options),
      prompts_(std::move(prompts)),
      prompt_logprobs_(prompts_.size()),
      choices_(prompts_.size() * static_cast<size_t>(options.n)) {}

void CompletionResponseAccumulator::add(int prompt_index, const RequestOutput& output) {
  if (prompt_index < 0 || prompt_index >= static_cast<int>(prompts_.size())) return;
  if (output.prompt_logprobs) prompt_logprobs_[static_cast<size_t>(prompt_index)] = output.prompt_logprobs;
  num_cached_tokens_ += output.num_cached_tokens;
  for (const CompletionOutput& out : output.outputs) {
    if (out.index < 0 || out.index >= options_.n) continue;
    Choice& choice = choices_[static_cast<size_t>(prompt_index * options_.n + out.index)];
    choice.text += out.text_delta;
    choice.token_ids.insert(choice.token_ids.end(), out.new_token_ids.begin(), out.new_token_ids.end());
    choice.logprobs.insert(choice.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
    choice.num_tokens = std::max(choice.num_tokens, out.num_output_tokens);
    if (out.finish_reason != FinishReason::kNone) {
      choice.finish_reason = out.finish_reason;
      choice.stop_reason = out.stop_reason;
    }
  }
}

int CompletionResponseAccumulator::num_prompt_tokens() const {
  int total = 0;
  for (const PreparedPrompt& prompt : prompts_) total += static_cast<int>(prompt.token_ids.size());
  return total;
}

int CompletionResponseAccumulator::num_completion_tokens() const {
  int total = 0;
  for (const Choice& choice : choices_) total += choice.num_tokens;
  return total;
}

Json CompletionResponseAccumulator::build() const {
  Json response;
  response["id"] = context_.id;
  response["object"] = "text_completion";
  response["created"] = context_.created;
  response["model"] = context_.model;
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& choice = choices_[i];
    const size_t prompt_index = i / static_cast<size_t>(options_.n);
    const PreparedPrompt& prompt = prompts_[prompt_index];
    Json entry;
    entry["index"] = static_cast<int>(i);
    entry["text"] = options_.echo ? prompt.text + choice.text : choice.text;
    if (options_.logprobs) {
      const int num_top = *options_.logprobs;
      CompletionLogprobs logprobs(0);
      if (options_.echo) {
        add_prompt_logprobs(logprobs, prompt, prompt_logprobs_[prompt_index], num_top, *context_.codec);
      }
      for (size_t t = 0; t < choice.token_ids.size(); ++t) {
        logprobs.add(choice.token_ids[t], t < choice.logprobs.size() ? &choice.logprobs[t] : nullptr,
                     num_top, *context_.codec);
      }
      entry["logprobs"] = logprobs.to_json();
    } else {
      entry["logprobs"] = nullptr;
    }
    entry["finish_reason"] = finish_reason_json(choice.finish_reason);
    entry["stop_reason"] = stop_reason_json(choice.stop_reason);
    entry["prompt_logprobs"] = prompt_logprobs_json(prompt_logprobs_[prompt_index], *context_.codec);
    choices.push_back(std::move(entry));
  }
  response["choices"] = std::move(choices);
  response["usage"] = usage_json(num_prompt_tokens(), num_completion_tokens(), num_cached_tokens_,
                                 context_.enable_prompt_tokens_details);
  return response;
}

CompletionStreamWriter::CompletionStreamWriter(ResponseContext context, CompletionOptions options,
                                               std::vector<PreparedPrompt> prompts)
    : context_(std::move(context)),
      options_(options),
      prompts_(std::move(prompts)),
      choices_(prompts_.size() * static_cast<size_t>(options.n)) {}

int CompletionStreamWriter::num_prompt_tokens() const {
  int total = 0;
  for (const PreparedPrompt& prompt : prompts_) total += static_cast<int>(prompt.token_ids.size());
  return total;
}

int CompletionStreamWriter::num_completion_tokens() const {
  int total = 0;
  for (const Choice& choice : choices_) total += choice.num_tokens;
  return total;
}

Json CompletionStreamWriter::chunk(Json choices) const {
  Json chunk;
  chunk["id"] = context_.id;
  chunk["object"] = "text_completion";
  chunk["created"] = context_.created;
  chunk["model"] = context_.model;
  chunk["choices"] = std::move(choices);
  if (options_.stream_options.include_usage && options_.stream_options.continuous_usage_stats) {
    chunk["usage"] = usage_json(num_prompt_tokens(), num_completion_tokens(), num_cached_tokens_,
                                context_.enable_prompt_tokens_details);
  }
  return chunk;
}

std::string CompletionStreamWriter::on_output(int prompt_index, const RequestOutput& output) {
  if (prompt_index < 0 || prompt_index >= static_cast<int>(prompts_.size())) return "";
  num_cached_tokens_ += output.num_cached_tokens;
  const PreparedPrompt& prompt = prompts_[static_cast<size_t>(prompt_index)];
  std::string events;
  for (const CompletionOutput& out : output.outputs) {
    if (out.index < 0 || out.index >= options_.n) continue;
    const int index = prompt_index * options_.n + out.index;
    Choice& state = choices_[static_cast<size_t>(index)];
    if (state.finished) continue;
    state.num_tokens = std::max(state.num_tokens, out.num_output_tokens);
    std::string text = out.text_delta;
    if (options_.logprobs && !state.logprobs) state.logprobs.emplace(0);
    if (!state.started) {
      state.started = true;
      if (options_.echo) {
        text = prompt.text + text;
        if (state.logprobs) {
          add_prompt_logprobs(*state.logprobs, prompt, output.prompt_logprobs, *options_.logprobs,
                              *context_.codec);
        }
      }
    }
    if (state.logprobs) {
      for (size_t t = 0; t < out.new_token_ids.size(); ++t) {
        state.logprobs->add(out.new_token_ids[t], t < out.logprobs.size() ? &out.logprobs[t] : nullptr,
                            *options_.logprobs, *context_.codec);
      }
    }
    const bool finished = out.finish_reason != FinishReason::kNone;
    if (text.empty() && !finished && (!state.logprobs || state.logprobs->empty())) continue;
    Json choice;
    choice["index"] = index;
    choice["text"] = text;
    choice["logprobs"] = state.logprobs ? state.logprobs->take_json() : Json(nullptr);
    choice["finish_reason"] = finish_reason_json(out.finish_reason);
    choice["stop_reason"] = stop_reason_json(out.stop_reason);
    if (finished) state.finished = true;
    events += sse_event(chunk(Json::array({std::move(choice)})));
  }
  return events;
}

std::string CompletionStreamWriter::finish() {
  std::string events;
  if (options_.stream_options.include_usage) {
    Json final_chunk;
    final_chunk["id"] = context_.id;
    final_chunk["object"] = "text_completion";
    final_chunk["created"] = context_.created;
    final_chunk["model"] = context_.model;
    final_chunk["choices"] = Json::array();
    final_chunk["usage"] = usage_json(num_prompt_tokens(), num_completion_tokens(), num_cached_tokens_,
                                      context_.enable_prompt_tokens_details);
    events += sse_event(final_chunk);
  }
  events += kSseDone;
  return events;
}

}  // namespace kiln::api
