#include "cli/serve_options.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/flag_parser.h"

namespace kiln {
namespace {

// vLLM takes --allowed-origins as a JSON list ('["*"]'); a comma-separated list works too.
Result<std::vector<std::string>> parse_origins(const std::string& text) {
  std::vector<std::string> origins;
  if (!text.empty() && text.front() == '[') {
    try {
      const nlohmann::json list = nlohmann::json::parse(text);
      for (const auto& item : list) {
        if (!item.is_string()) return Status::error("--allowed-origins: expects a JSON list of strings");
        origins.push_back(item.get<std::string>());
      }
    } catch (const nlohmann::json::exception& e) {
      return Status::error(std::string("--allowed-origins: not a JSON list: ") + e.what());
    }
    return origins;
  }
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) origins.push_back(item);
  }
  return origins;
}

}  // namespace

std::string resolve_reasoning_parser(const std::string& flag, const std::string& model_name) {
  if (flag != "auto") return flag;
  std::string lower = model_name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("deepseek-r1") != std::string::npos ? "deepseek_r1" : "none";
}

Result<std::string> load_chat_template_flag(const std::string& value) {
  std::error_code ec;
  if (value.find('\n') == std::string::npos && value.find("{%") == std::string::npos &&
      value.find("{{") == std::string::npos) {
    if (!std::filesystem::is_regular_file(value, ec)) {
      return Status::error("--chat-template " + value + ": no such file, and it does not look like a template");
    }
    std::ifstream file(value, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    if (!file) return Status::error("--chat-template " + value + ": cannot read the file");
    return text.str();
  }
  return value;
}

Result<ServeOptions> parse_serve_options(const CommandArgs& args, const EnvLookup& env, std::string* help_text) {
  ServeOptions o;
  std::vector<std::string> positionals;
  std::optional<std::string> model_flag;
  std::optional<std::string> origins_text;
  FlagParser parser("serve",
                    "Serve a model with an OpenAI-compatible API (vLLM's endpoints, errors and metrics)");
  parser.allow_positionals(&positionals, "MODEL");
  parser.add_optional_string("model", &model_flag, "model directory (or give it as the first argument)");
  parser.add_string("host", &o.host, "address to listen on");
  parser.add_int("port", &o.port, "port to listen on");
  parser.add_optional_string("served-model-name", &o.served_model_name,
                             "the model name in the API (default: MODEL as given)");
  parser.add_optional_int("max-model-len", &o.max_model_len,
                          "context length (default: config.json's max_position_embeddings)");
  parser.add_int("max-num-seqs", &o.max_num_seqs, "maximum sequences in one batch");
  parser.add_optional_int("max-num-batched-tokens", &o.max_num_batched_tokens,
                          "maximum tokens in one engine step (default: chosen from max-model-len)");
  parser.add_int("block-size", &o.block_size, "KV cache block size in tokens");
  parser.add_double("gpu-memory-utilization", &o.gpu_memory_utilization,
                    "fraction of GPU memory for weights, activations and KV cache");
  parser.add_optional_string("kv-cache-memory", &o.kv_cache_memory,
                             "KV cache size in bytes (e.g. 4GiB); overrides --gpu-memory-utilization");
  parser.add_bool("enable-prefix-caching", &o.enable_prefix_caching, "reuse KV blocks of shared prompt prefixes");
  parser.add_bool("enforce-eager", &o.enforce_eager, "no CUDA graphs: launch every decode step kernel by kernel");
  parser.add_string("dtype", &o.dtype, "weight and activation dtype: auto, bfloat16, float16");
  parser.add_int64("seed", &o.seed, "random seed for sampling");
  parser.add_string("generation-config", &o.generation_config,
                    "sampling defaults: auto (the model's generation_config.json), vllm (none), or a folder");
  parser.add_optional_string("chat-template", &o.chat_template, "chat template file or inline template text");
  parser.add_int("tensor-parallel-size", &o.tensor_parallel_size, "GPUs per model (only 1 for now)");
  parser.add_optional_string("api-key", &o.api_key,
                             "require this Bearer key on /v1/*, /tokenize, /detokenize (or KILN_API_KEY, VLLM_API_KEY)");
  parser.add_string("reasoning-parser", &o.reasoning_parser,
                    "deepseek_r1, none, or auto (deepseek_r1 for DeepSeek-R1 models)");
  parser.add_optional_string("allowed-origins", &origins_text, "CORS origins, a JSON list (default: [\"*\"])");
  parser.add_int64("max-request-bytes", &o.max_request_bytes, "larger request bodies get 413");
  parser.add_double("drain-timeout", &o.drain_timeout_s, "seconds in-flight requests may finish after SIGTERM");
  parser.add_string("device", &o.device, "auto (cuda when a GPU is visible), cuda or cpu");
  parser.add_optional_string("gpu-memory-limit", &o.gpu_memory_limit,
                             "treat the GPU as having this much memory (e.g. 24GiB), to rehearse smaller cards");
  parser.add_int("num-threads", &o.num_threads, "CPU backend threads (0: all cores)");
  parser.add_int("max-logprobs", &o.max_logprobs, "most logprobs a request may ask for");
  parser.add_bool("enable-prompt-tokens-details", &o.enable_prompt_tokens_details,
                  "report usage.prompt_tokens_details.cached_tokens");
  parser.add_int("http-threads", &o.http_threads, "threads serving HTTP");

  KILN_RETURN_IF_ERROR(parser.parse(args));
  if (parser.help_requested()) {
    *help_text = parser.help_text();
    return o;
  }
  if (model_flag && !positionals.empty()) return Status::error("give the model once: as MODEL or as --model");
  if (positionals.size() > 1) return Status::error("unexpected argument '" + positionals[1] + "'");
  if (model_flag) o.model = *model_flag;
  else if (!positionals.empty()) o.model = positionals[0];
  else return Status::error("missing MODEL (see kiln serve --help)");

  if (o.tensor_parallel_size != 1) {
    return Status::error("--tensor-parallel-size " + std::to_string(o.tensor_parallel_size) +
                         ": kiln runs a model on one GPU for now; only 1 is supported");
  }
  if (o.port < 0 || o.port > 65535) return Status::error("--port must be in [0, 65535]");
  if (!(o.gpu_memory_utilization > 0 && o.gpu_memory_utilization <= 1)) {
    return Status::error("--gpu-memory-utilization must be in (0, 1]");
  }
  if (o.block_size <= 0 || (o.block_size & (o.block_size - 1)) != 0) {
    return Status::error("--block-size must be a power of two");
  }
  if (o.max_num_seqs < 1) return Status::error("--max-num-seqs must be at least 1");
  if (o.max_model_len && *o.max_model_len < 1) return Status::error("--max-model-len must be at least 1");
  if (o.max_request_bytes < 1024) return Status::error("--max-request-bytes must be at least 1024");
  if (o.drain_timeout_s < 0) return Status::error("--drain-timeout must be >= 0");
  if (o.http_threads < 1) return Status::error("--http-threads must be at least 1");
  if (o.max_logprobs < 0) return Status::error("--max-logprobs must be >= 0");
  if (o.reasoning_parser != "auto" && o.reasoning_parser != "none" && o.reasoning_parser != "deepseek_r1") {
    return Status::error("--reasoning-parser " + o.reasoning_parser + ": expected deepseek_r1, none or auto");
  }
  if (o.device != "auto" && o.device != "cuda" && o.device != "cpu") {
    return Status::error("--device " + o.device + ": expected auto, cuda or cpu");
  }
  if (o.num_threads < 0) return Status::error("--num-threads must be >= 0");
  if (origins_text) {
    KILN_ASSIGN_OR_RETURN(o.allowed_origins, parse_origins(*origins_text));
  }
  if (!o.api_key) {
    for (const char* name : {"KILN_API_KEY", "VLLM_API_KEY"}) {
      if (auto value = env(name); value && !value->empty()) {
        o.api_key = *value;
        break;
      }
    }
  }
  return o;
}

}  // namespace kiln
