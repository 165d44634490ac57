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

#include "base/byte_size.h"
#include "base/clock.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/engine_setup.h"
#include "cli/flag_parser.h"
#include "cli/prompt_input.h"
#include "engine/memory_plan.h"
#include "engine/request_stream.h"
#include "model/model_config.h"

namespace kiln {
namespace {

constexpr int kBlockSize = 16;

int fail(std::string message, int code) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "kiln generate: %s\n", message.c_str());
  return code;
}

struct GenerateOptions {
  std::string model;
  std::optional<std::string> prompt;
  std::optional<std::string> prompt_ids;
  std::optional<std::string> chat;
  int max_tokens = 256;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int> top_k;
  int64_t seed = 0;
  bool seed_set = false;
  std::optional<int> top_logprobs;
  bool prompt_logprobs = false;
  bool json = false;
  bool ignore_eos = false;
  bool add_special_tokens = false;
  std::string device = "auto";
  std::optional<std::string> kv_cache_memory;
  std::optional<int> max_model_len;
  std::string generation_config = "auto";
  int num_threads = 0;
  std::string log_level = "info";
};

constexpr const char* kSummary =
    "Generate from one prompt with the engine, offline.\n"
    "\n"
    "Give exactly one of --prompt (text encoded as it is: no BOS unless --add-special-tokens),\n"
    "--prompt-ids (comma-separated token ids) or --chat (TEXT as one user message rendered by the\n"
    "model's chat template with the generation prompt; the template writes BOS). Sampling flags left\n"
    "unset take the model's generation_config.json (R1-Distill: temperature 0.6, top_p 0.95);\n"
    "--temperature 0 is greedy. Without --seed the sampling seed is random.\n"
    "\n"
    "Without --json the text streams to stdout as it is generated, then a newline. With --json one\n"
    "object is printed:\n"
    "  {\"prompt_ids\": [...], \"prompt_logprobs\": [null, lp, ...] or null,\n"
    "   \"tokens\": [{\"id\": n, \"text\": \"...\", \"logprob\": x, \"top_logprobs\": [[id, lp], ...]}, ...],\n"
    "   \"text\": \"...\", \"finish_reason\": \"stop\" | \"length\"}\n"
    "prompt_logprobs is null unless --prompt-logprobs; then entry i is the log-probability of prompt\n"
    "token i given the tokens before it (null for the first). Logprobs are the model's raw\n"
    "log-softmax (before temperature and top-p/top-k). top_logprobs holds the --top-logprobs best\n"
    "tokens, best first ([] without the flag). A token's \"text\" is the lossy decode of that id\n"
    "alone (special tokens written out; a byte that ends inside a UTF-8 character reads U+FFFD);\n"
    "\"text\" is the streamed, detokenized output (special tokens skipped).\n"
    "\n"
    "Logs go to stderr, including the load time and the generation speed.";

void add_flags(FlagParser* parser, GenerateOptions* o) {
  parser->add_string("model", &o->model, "model folder: config.json, safetensors and tokenizer files (required)");
  parser->add_optional_string("prompt", &o->prompt, "prompt text, encoded as it is");
  parser->add_optional_string("prompt-ids", &o->prompt_ids, "prompt token ids, e.g. 128000,9906,0");
  parser->add_optional_string("chat", &o->chat, "a user message, rendered by the model's chat template");
  parser->add_int("max-tokens", &o->max_tokens, "tokens to generate at most");
  parser->add_optional_double("temperature", &o->temperature, "sampling temperature; 0 = greedy (default: generation_config.json)");
  parser->add_optional_double("top-p", &o->top_p, "nucleus sampling, in (0, 1] (default: generation_config.json)");
  parser->add_optional_int("top-k", &o->top_k, "top-k sampling; 0 or -1 = off (default: generation_config.json)");
  parser->add_int64("seed", &o->seed, "sampling seed, for reproducible sampling (default: random)");
  parser->add_optional_int("top-logprobs", &o->top_logprobs, "with --json: the K most likely tokens at each step");
  parser->add_bool("prompt-logprobs", &o->prompt_logprobs, "with --json: each prompt token's logprob");
  parser->add_bool("json", &o->json, "print one JSON object (see above) instead of streaming text");
  parser->add_bool("ignore-eos", &o->ignore_eos, "keep generating after EOS until --max-tokens");
  parser->add_bool("add-special-tokens", &o->add_special_tokens,
                   "with --prompt or --chat: add BOS first when the tokenizer config says so");
  parser->add_string("device", &o->device, "auto (cuda when a GPU is there), cuda or cpu");
  parser->add_optional_string("kv-cache-memory", &o->kv_cache_memory,
                              "bytes for the KV cache, e.g. 1GiB (default: what max-model-len needs)");
  parser->add_optional_int("max-model-len", &o->max_model_len,
                           "tokens per sequence (default: prompt + max-tokens rounded up to 16, at most the "
                           "model's max_position_embeddings)");
  parser->add_string("generation-config", &o->generation_config,
                     "auto: the model's generation_config.json; vllm: neutral defaults; or a folder");
  parser->add_int("num-threads", &o->num_threads, "CPU threads for the forward (0: all cores)");
  parser->add_string("log-level", &o->log_level, "debug, info, warning or error (stderr)");
}

Status validate(const GenerateOptions& o) {
  if (o.model.empty()) return Status::error("--model is required");
  const int inputs = o.prompt.has_value() + o.prompt_ids.has_value() + o.chat.has_value();
  if (inputs != 1) return Status::error("give exactly one of --prompt, --prompt-ids and --chat");
  if (o.add_special_tokens && o.prompt_ids) return Status::error("--add-special-tokens does not apply to --prompt-ids");
  if (o.max_tokens < 1) return Status::error("--max-tokens must be at least 1, got " + std::to_string(o.max_tokens));
  if (o.temperature && !(std::isfinite(*o.temperature) && *o.temperature >= 0)) {
    return Status::error("--temperature must be >= 0");
  }
  if (o.top_p && !(*o.top_p > 0 && *o.top_p <= 1)) return Status::error("--top-p must be in (0, 1]");
  if (o.top_k && *o.top_k < -1) return Status::error("--top-k must be -1, 0 (off) or positive");
  if (o.seed_set && o.seed < 0) return Status::error("--seed must be >= 0");
  if (o.top_logprobs && *o.top_logprobs < 0) return Status::error("--top-logprobs must be >= 0");
  if (o.top_logprobs && !o.json) return Status::error("--top-logprobs needs --json");
  if (o.prompt_logprobs && !o.json) return Status::error("--prompt-logprobs needs --json");
  if (o.max_model_len && *o.max_model_len < 1) return Status::error("--max-model-len must be positive");
  if (o.num_threads < 0) return Status::error("--num-threads must be >= 0");
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda") {
    return Status::error("--device must be auto, cuda or cpu, got '" + o.device + "'");
  }
  return ok_status();
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

nlohmann::ordered_json token_json(const Tokenizer& tokenizer, int32_t id, const TokenLogprob* logprob) {
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
  GenerateOptions o;
  FlagParser parser("generate", kSummary);
  add_flags(&parser, &o);
  const Status parsed = parser.parse(args);
  if (!parsed.ok()) return fail(parsed.message(), 2);
  if (parser.help_requested()) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  o.seed_set = parser.was_set("seed");
  if (const Status valid = validate(o); !valid.ok()) return fail(valid.message(), 2);
  LogLevel level;
  if (!parse_log_level(o.log_level, &level)) {
    return fail("--log-level must be debug, info, warning or error, got '" + o.log_level + "'", 2);
  }
  set_log_level(level);
  std::optional<int64_t> kv_cache_bytes;
  if (o.kv_cache_memory) {
    auto bytes = parse_byte_size(*o.kv_cache_memory);
    if (!bytes.ok()) return fail("--kv-cache-memory: " + bytes.message(), 2);
    kv_cache_bytes = *bytes;
  }

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

  // The sequence needs prompt + max_tokens positions; size the KV cache for exactly that unless
  // told otherwise, so that a short generation does not reserve the model's whole context.
  const int max_positions = model_config->max_position_embeddings;
  const int64_t wanted = static_cast<int64_t>(prompt_len) + o.max_tokens;
  const int max_model_len = o.max_model_len.value_or(static_cast<int>(
      std::min<int64_t>(max_positions, (wanted + kBlockSize - 1) / kBlockSize * kBlockSize)));
  if (max_model_len > max_positions) {
    return fail("--max-model-len " + std::to_string(max_model_len) + " exceeds the model's max_position_embeddings " +
                    std::to_string(max_positions),
                2);
  }
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
  if (!kv_cache_bytes) {
    const int64_t blocks = (max_model_len + kBlockSize - 1) / kBlockSize;
    kv_cache_bytes = blocks * kv_bytes_per_block(*model_config, kBlockSize, DType::kF32);
  }

  EngineSetupOptions setup;
  setup.backend.device = o.device;
  setup.backend.block_size = kBlockSize;
  setup.backend.max_model_len = max_model_len;
  setup.backend.max_num_seqs = 1;
  setup.backend.max_num_batched_tokens = std::min(max_model_len, 2048);
  setup.backend.kv_cache_memory_bytes = kv_cache_bytes;
  setup.backend.num_threads = o.num_threads;
  setup.backend.show_progress = level <= LogLevel::kInfo;  // the load bar is an info-level display
  setup.enable_prefix_caching = false;  // one request: nothing to share
  setup.generation_config = o.generation_config;
  auto running = start_engine(dir, setup, prompt_tokenizer->tokenizer);
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
  if (o.seed_set) sampling.seed = static_cast<uint64_t>(o.seed);
  sampling.max_tokens = max_tokens;
  sampling.ignore_eos = o.ignore_eos;
  if (o.json) sampling.logprobs = o.top_logprobs.value_or(0);
  if (o.prompt_logprobs) sampling.prompt_logprobs = 0;

  const double start = monotonic_seconds();
  auto stream = RequestStream::open(running->engine.get(), std::move(request));
  if (!stream.ok()) return fail(stream.message(), 2);

  const Tokenizer& tokenizer = *prompt_tokenizer->tokenizer;
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

}  // namespace kiln
