// `kiln generate`: one prompt through the engine, offline. Text streams to stdout as it is
// generated, or --json prints one object with the ids, per-token logprobs and the text. Logs
// (loading, memory plan, timing) go to stderr, so stdout holds only the output.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/engine_start.h"
#include "cli/generate_options.h"
#include "cli/process_environment.h"
#include "cli/prompt_input.h"
#include "engine/engine_args.h"
#include "engine/model_backend.h"
#include "engine/request_stream.h"
#include "model/model_config.h"

namespace kiln::cli {
namespace {

int fail(std::string message, int code) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "kiln generate: %s\n", message.c_str());
  return code;
}

Result<std::vector<int32_t>> prompt_token_ids(const GenerateOptions& o, const PromptTokenizer& prompt_tokenizer,
                                              int vocab_size) {
  std::vector<int32_t> ids;
  if (o.prompt_ids) {
    KILN_ASSIGN_OR_RETURN(ids, parse_token_ids(*o.prompt_ids, vocab_size, "--prompt-ids"));
  } else if (o.prompt) {
    ids = encode_prompt(prompt_tokenizer, *o.prompt, o.add_special_tokens);
  } else {
    const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", *o.chat}}});
    KILN_ASSIGN_OR_RETURN(std::string rendered, render_chat(prompt_tokenizer, messages, /*add_generation_prompt=*/true));
    ids = encode_prompt(prompt_tokenizer, rendered, o.add_special_tokens);
  }
  if (ids.empty()) return Status::error("the prompt is empty (no tokens)");
  for (const int32_t id : ids) {
    if (id >= vocab_size) {
      return Status::error("prompt token " + std::to_string(id) + " is outside the model's vocabulary (" +
                           std::to_string(vocab_size) + ")");
    }
  }
  return ids;
}

nlohmann::ordered_json token_json(const tokenizer::Tokenizer& tokenizer, int32_t id, const TokenLogprob* logprob) {
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  if (logprob) {
    for (const auto& [top_id, top_lp] : logprob->top) top.push_back({top_id, top_lp});
  }
  return nlohmann::ordered_json{{"id", id},
                                {"text", tokenizer.decode(std::span<const int32_t>(&id, 1))},
                                {"logprob", logprob ? nlohmann::ordered_json(logprob->logprob) : nullptr},
                                {"top_logprobs", std::move(top)}};
}

}  // namespace

int run_generate_command(const CommandArgs& args) {
  std::string help;
  auto parsed = parse_generate_options(args, process_environment(), &help);
  if (!parsed.ok()) return fail(parsed.message(), 2);
  if (!help.empty()) {
    std::printf("%s", help.c_str());
    return 0;
  }
  const GenerateOptions& o = *parsed;
  LogLevel level;
  if (!parse_log_level(o.log_level, &level)) {
    return fail("--log-level must be debug, info, warning or error, got '" + o.log_level + "'", 2);
  }
  set_log_level(level);

  const double load_start = monotonic_seconds();
  const std::filesystem::path dir = o.model;
  if (!std::filesystem::is_directory(dir)) return fail("--model " + o.model + ": no such directory", 2);
  const std::filesystem::path config_json = dir / "config.json";
  if (!std::filesystem::is_regular_file(config_json)) return fail(config_json.string() + ": no such file", 2);
  auto model_config = load_model_config(config_json);
  if (!model_config.ok()) return fail(model_config.message(), 2);
  auto prompt_tokenizer = load_prompt_tokenizer(dir);
  if (!prompt_tokenizer.ok()) return fail(prompt_tokenizer.message(), 2);
  auto prompt = prompt_token_ids(o, *prompt_tokenizer, model_config->vocab_size);
  if (!prompt.ok()) return fail(prompt.message(), 2);
  const int prompt_len = static_cast<int>(prompt->size());

  // The sequence needs prompt + max_tokens positions; the engine is sized for exactly that unless
  // told otherwise, so that a short generation does not reserve the model's whole context.
  EngineArgs engine_args = generate_engine_args(o, prompt_len, model_config->max_position_embeddings);
  engine_args.show_progress = level <= LogLevel::kInfo;  // the load bar is an info-level display
  auto resolved = resolve_engine_args(engine_args, *model_config, detect_devices());
  if (!resolved.ok()) return fail(resolved.message(), 2);
  const int max_model_len = resolved->max_model_len;
  if (prompt_len >= max_model_len) {
    return fail("the prompt has " + std::to_string(prompt_len) + " tokens; max-model-len " +
                    std::to_string(max_model_len) + " leaves no room to generate",
                2);
  }
  int max_tokens = o.max_tokens;
  if (prompt_len + max_tokens > max_model_len) {
    max_tokens = max_model_len - prompt_len;
    KILN_LOG(Warning) << "--max-tokens " << o.max_tokens << " lowered to " << max_tokens << " to fit max-model-len "
                      << max_model_len;
  }
  if (resolved->device == "cpu" && o.engine.dtype != "auto") {
    KILN_LOG(Info) << "--dtype " << o.engine.dtype << ": the CPU backend computes in float32";
  }
  auto running = start_engine(dir, *model_config, *resolved, prompt_tokenizer->tokenizer);
  if (!running.ok()) return fail(running.message(), 2);
  const double load_s = monotonic_seconds() - load_start;
  char line[160];
  std::snprintf(line, sizeof(line), "Tokenizer and model loaded in %.2f s on %s", load_s, running->device.c_str());
  KILN_LOG(Info) << line;

  EngineRequest request;
  request.request_id = "generate-0";
  request.prompt_token_ids = *prompt;
  SamplingParams& sampling = request.sampling;
  if (o.temperature) sampling.temperature = static_cast<float>(*o.temperature);
  if (o.top_p) sampling.top_p = static_cast<float>(*o.top_p);
  if (o.top_k) sampling.top_k = *o.top_k;
  if (o.seed) sampling.seed = static_cast<uint64_t>(*o.seed);
  sampling.max_tokens = max_tokens;
  sampling.ignore_eos = o.ignore_eos;
  if (o.json) sampling.logprobs = o.top_logprobs.value_or(0);
  if (o.prompt_logprobs) sampling.prompt_logprobs = 0;

  const double start = monotonic_seconds();
  auto stream = RequestStream::open(running->engine.get(), std::move(request));
  if (!stream.ok()) return fail(stream.message(), 2);

  const tokenizer::Tokenizer& tokenizer = *prompt_tokenizer->tokenizer;
  nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
  nlohmann::ordered_json prompt_logprobs = nullptr;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  int num_generated = 0;
  std::optional<double> first_token_s;
  while (std::optional<RequestOutput> out = (*stream)->next()) {
    if (!out->error.empty()) return fail(out->error, 1);
    if (out->prompt_logprobs) {
      prompt_logprobs = nlohmann::ordered_json::array();
      for (const std::optional<TokenLogprob>& entry : *out->prompt_logprobs) {
        prompt_logprobs.push_back(entry ? nlohmann::ordered_json(entry->logprob) : nullptr);
      }
    }
    for (const CompletionOutput& choice : out->outputs) {
      if (!choice.new_token_ids.empty() && !first_token_s) first_token_s = monotonic_seconds() - start;
      for (size_t i = 0; i < choice.new_token_ids.size(); ++i) {
        const TokenLogprob* logprob = i < choice.logprobs.size() ? &choice.logprobs[i] : nullptr;
        if (o.json) tokens.push_back(token_json(tokenizer, choice.new_token_ids[i], logprob));
      }
      num_generated += static_cast<int>(choice.new_token_ids.size());
      text += choice.text_delta;
      if (!o.json && !choice.text_delta.empty()) {
        std::fwrite(choice.text_delta.data(), 1, choice.text_delta.size(), stdout);
        std::fflush(stdout);
      }
      if (choice.finish_reason != FinishReason::kNone) finish = choice.finish_reason;
    }
  }
  const double elapsed_s = monotonic_seconds() - start;
  if (finish != FinishReason::kStop && finish != FinishReason::kLength) {
    if (!o.json) std::fputc('\n', stdout);
    return fail(std::string("generation ended with finish reason ") + finish_reason_name(finish), 1);
  }
  if (o.json && o.prompt_logprobs && prompt_logprobs.is_null()) {
    return fail("the engine returned no prompt logprobs", 1);
  }

  if (o.json) {
    nlohmann::ordered_json result{{"prompt_ids", *prompt},     {"prompt_logprobs", std::move(prompt_logprobs)},
                                  {"tokens", std::move(tokens)}, {"text", text},
                                  {"finish_reason", finish_reason_name(finish)}};
    std::printf("%s\n", result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);

  const double decode_s = first_token_s ? elapsed_s - *first_token_s : 0;
  std::snprintf(line, sizeof(line),
                "Generated %d tokens in %.2f s (prompt %d tokens, first token after %.3f s, %.1f tokens/s after it)",
                num_generated, elapsed_s, prompt_len, first_token_s.value_or(0),
                num_generated > 1 && decode_s > 0 ? (num_generated - 1) / decode_s : 0.0);
  KILN_LOG(Info) << line;
  return 0;
}

}  // namespace kiln::cli
