#include "cli/generate_options.h"

#include <algorithm>
#include <cmath>

#include "cli/engine_flags.h"
#include "cli/flag_parser.h"

namespace kiln::cli {
namespace {

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
  if (o.seed && *o.seed < 0) return Status::error("--seed must be >= 0");
  if (o.top_logprobs && *o.top_logprobs < 0) return Status::error("--top-logprobs must be >= 0");
  if (o.top_logprobs && !o.json) return Status::error("--top-logprobs needs --json");
  if (o.prompt_logprobs && !o.json) return Status::error("--prompt-logprobs needs --json");
  return validate_engine_args(o.engine);
}

}  // namespace

Result<GenerateOptions> parse_generate_options(const CommandArgs& args, const EnvLookup& env, std::string* help_text) {
  GenerateOptions o;
  o.engine.max_num_seqs = 1;
  o.engine.enable_prefix_caching = false;
  int64_t seed = 0;
  FlagParser parser("generate", kSummary);
  parser.add_string("model", &o.model, "model folder: config.json, safetensors and tokenizer files (required)");
  parser.add_optional_string("prompt", &o.prompt, "prompt text, encoded as it is");
  parser.add_optional_string("prompt-ids", &o.prompt_ids, "prompt token ids, e.g. 128000,9906,0");
  parser.add_optional_string("chat", &o.chat, "a user message, rendered by the model's chat template");
  parser.add_int("max-tokens", &o.max_tokens, "tokens to generate at most");
  parser.add_optional_double("temperature", &o.temperature, "sampling temperature; 0 = greedy (default: generation_config.json)");
  parser.add_optional_double("top-p", &o.top_p, "nucleus sampling, in (0, 1] (default: generation_config.json)");
  parser.add_optional_int("top-k", &o.top_k, "top-k sampling; 0 or -1 = off (default: generation_config.json)");
  parser.add_int64("seed", &seed, "sampling seed, for reproducible sampling (default: random)");
  parser.add_optional_int("top-logprobs", &o.top_logprobs, "with --json: the K most likely tokens at each step");
  parser.add_bool("prompt-logprobs", &o.prompt_logprobs, "with --json: each prompt token's logprob");
  parser.add_bool("json", &o.json, "print one JSON object (see above) instead of streaming text");
  parser.add_bool("ignore-eos", &o.ignore_eos, "keep generating after EOS until --max-tokens");
  parser.add_bool("add-special-tokens", &o.add_special_tokens,
                  "with --prompt or --chat: add BOS first when the tokenizer config says so");
  add_engine_flags(parser, &o.engine);
  parser.set_help("kv-cache-memory", "bytes for the KV cache, e.g. 1GiB (default: what max-model-len needs)");
  parser.set_help("max-model-len",
                  "tokens per sequence (default: prompt + max-tokens rounded up to 16, at most the "
                  "model's max_position_embeddings)");
  parser.add_string("log-level", &o.log_level, "debug, info, warning or error (stderr)");
  KILN_RETURN_IF_ERROR(parser.parse(args));
  if (parser.help_requested()) {
    *help_text = parser.help_text();
    return o;
  }
  if (parser.was_set("seed")) o.seed = seed;
  KILN_RETURN_IF_ERROR(validate(o));
  KILN_RETURN_IF_ERROR(read_engine_environment(env, &o.engine));
  return o;
}

EngineArgs generate_engine_args(const GenerateOptions& options, int prompt_len, int max_position_embeddings) {
  EngineArgs args = options.engine;
  const int block_size = args.block_size;
  if (!args.max_model_len) {
    const int64_t wanted = static_cast<int64_t>(prompt_len) + options.max_tokens;
    args.max_model_len = static_cast<int>(
        std::min<int64_t>(max_position_embeddings, (wanted + block_size - 1) / block_size * block_size));
  }
  if (!args.kv_cache_memory_bytes && !args.num_kv_blocks_override) {
    args.num_kv_blocks_override = (*args.max_model_len + block_size - 1) / block_size;
  }
  return args;
}

}  // namespace kiln::cli
