#include "api/completion_response.h"

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

int total_prompt_tokens(const std::vector<PreparedPrompt>& prompts) {
  int total = 0;
  for (const PreparedPrompt& prompt : prompts) total += static_cast<int>(prompt.token_ids.size());
  return total;
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
    choices_[static_cast<size_t>(prompt_index * options_.n + out.index)].add(out);
  }
}

int CompletionResponseAccumulator::num_prompt_tokens() const { return total_prompt_tokens(prompts_); }

int CompletionResponseAccumulator::num_completion_tokens() const { return total_num_tokens(choices_); }

Json CompletionResponseAccumulator::build() const {
  Json response = response_envelope(context_, "text_completion");
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const AccumulatedChoice& choice = choices_[i];
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
    choice.put_finish(&entry);
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
      stream_(context_, "text_completion", options.stream_options),
      prompts_(std::move(prompts)),
      choices_(prompts_.size() * static_cast<size_t>(options.n)) {}

int CompletionStreamWriter::num_prompt_tokens() const { return total_prompt_tokens(prompts_); }

int CompletionStreamWriter::num_completion_tokens() const { return total_num_tokens(choices_); }

UsageCounts CompletionStreamWriter::usage() const {
  return {num_prompt_tokens(), num_completion_tokens(), num_cached_tokens_};
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
    events += stream_.event(Json::array({std::move(choice)}), usage());
  }
  return events;
}

std::string CompletionStreamWriter::finish() { return stream_.finish(usage()); }

}  // namespace kiln::api
