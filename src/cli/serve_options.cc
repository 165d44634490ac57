#include "cli/serve_options.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/tool_call_parser.h"
#include "cli/engine_flags.h"
#include "cli/flag_parser.h"

namespace kiln::cli {
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
  add_engine_flags(parser, &o.engine);
  std::optional<std::string> seed_text;  // a string so that the help shows no default: unset means random
  parser.add_optional_string("seed", &seed_text,
                             "global seed: requests without a seed get per-request seeds drawn from it, so the "
                             "same requests in the same order sample the same tokens (default: random)");
  parser.add_optional_string("chat-template", &o.chat_template, "chat template file or inline template text");
  parser.add_optional_string("api-key", &o.api_key,
                             "require this Bearer key on /v1/*, /tokenize, /detokenize (or KILN_API_KEY, VLLM_API_KEY)");
  parser.add_string("reasoning-parser", &o.reasoning_parser,
                    "deepseek_r1, none, or auto (deepseek_r1 for DeepSeek-R1 models)");
  parser.add_optional_string("tool-call-parser", &o.tool_call_parser,
                             "how tool calls are read from the model's text: llama3_json, hermes or deepseek_v3");
  parser.add_bool("enable-auto-tool-choice", &o.enable_auto_tool_choice,
                  "serve tool_choice \"auto\" (needs --tool-call-parser)");
  parser.add_optional_string("allowed-origins", &origins_text, "CORS origins, a JSON list (default: [\"*\"])");
  parser.add_int64("max-request-bytes", &o.max_request_bytes, "larger request bodies get 413");
  parser.add_double("drain-timeout", &o.drain_timeout_s, "seconds in-flight requests may finish after SIGTERM");
  parser.add_int("max-logprobs", &o.max_logprobs, "most logprobs a request may ask for");
  parser.add_bool("enable-prompt-tokens-details", &o.enable_prompt_tokens_details,
                  "report usage.prompt_tokens_details.cached_tokens");
  parser.add_int("http-threads", &o.http_threads, "threads serving HTTP");
  parser.add_int64("max-seqs-per-request", &o.max_seqs_per_request,
                   "most sequences (prompts x n) one request may ask for; more gets 400");
  parser.add_bool("trust-request-chat-template", &o.trust_request_chat_template,
                  "accept a chat_template in requests (refused with 400 otherwise, as vLLM)");
  parser.add_double("http-keep-alive-timeout", &o.http_keep_alive_timeout_s,
                    "seconds an idle connection is kept open between requests");
  parser.add_double("http-header-timeout", &o.http_header_timeout_s,
                    "seconds a request's headers may take from their first byte (then 408)");
  parser.add_double("http-body-timeout", &o.http_body_timeout_s,
                    "seconds a request body may stall without a byte (then 408)");
  parser.add_double("http-body-min-rate", &o.http_body_min_rate,
                    "bytes per second a request body must average after --http-body-timeout (0: no minimum)");
  parser.add_double("http-write-timeout", &o.http_write_timeout_s,
                    "seconds a response write may make no progress before the connection is closed");
  parser.add_optional_string("otlp-traces-endpoint", &o.otlp_traces_endpoint,
                             "send a span per request to this OTLP/HTTP collector (e.g. http://localhost:4318/v1/traces)");
  parser.add_optional_string("collect-detailed-traces", &o.collect_detailed_traces,
                             "model, worker or all (vLLM's values): add child spans for each request's queue, "
                             "prefill and decode phases");

  KILN_RETURN_IF_ERROR(parser.parse(args));
  if (parser.help_requested()) {
    *help_text = parser.help_text();
    return o;
  }
  if (seed_text) {
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(seed_text->c_str(), &end, 10);
    if (seed_text->empty() || *end != '\0' || errno == ERANGE) {
      return Status::error("--seed must be an integer, got '" + *seed_text + "'");
    }
    o.engine.seed = static_cast<uint64_t>(value);
  }
  if (model_flag && !positionals.empty()) return Status::error("give the model once: as MODEL or as --model");
  if (positionals.size() > 1) return Status::error("unexpected argument '" + positionals[1] + "'");
  if (model_flag) o.model = *model_flag;
  else if (!positionals.empty()) o.model = positionals[0];
  else return Status::error("missing MODEL (see kiln serve --help)");

  KILN_RETURN_IF_ERROR(validate_engine_args(o.engine));
  if (o.port < 0 || o.port > 65535) return Status::error("--port must be in [0, 65535]");
  if (o.max_request_bytes < 1024) return Status::error("--max-request-bytes must be at least 1024");
  if (o.drain_timeout_s < 0) return Status::error("--drain-timeout must be >= 0");
  if (o.http_threads < 1) return Status::error("--http-threads must be at least 1");
  if (o.max_seqs_per_request < 1) return Status::error("--max-seqs-per-request must be at least 1");
  for (const auto& [name, value] : {std::pair<const char*, double>{"--http-keep-alive-timeout", o.http_keep_alive_timeout_s},
                                    {"--http-header-timeout", o.http_header_timeout_s},
                                    {"--http-body-timeout", o.http_body_timeout_s},
                                    {"--http-write-timeout", o.http_write_timeout_s}}) {
    if (!(value > 0)) return Status::error(std::string(name) + " must be > 0 seconds");
  }
  if (!(o.http_body_min_rate >= 0)) return Status::error("--http-body-min-rate must be >= 0 bytes per second");
  if (o.collect_detailed_traces) {
    std::stringstream modules(*o.collect_detailed_traces);
    for (std::string module; std::getline(modules, module, ',');) {
      if (module != "model" && module != "worker" && module != "all") {
        return Status::error("--collect-detailed-traces " + *o.collect_detailed_traces +
                             ": expected model, worker or all (comma-separated)");
      }
    }
    if (!o.otlp_traces_endpoint) {
      return Status::error("--collect-detailed-traces needs --otlp-traces-endpoint (where the traces go)");
    }
  }
  if (o.otlp_traces_endpoint) {
    // vLLM picks its exporter with this variable (grpc by default); kiln speaks http/protobuf.
    if (auto protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); protocol && !protocol->empty() &&
                                                                    *protocol != "http/protobuf") {
      return Status::error("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=" + *protocol +
                           ": kiln exports traces over OTLP/HTTP with protobuf only (http/protobuf)");
    }
    if (auto name = env("OTEL_SERVICE_NAME"); name && !name->empty()) o.otel_service_name = *name;
  }
  if (o.max_logprobs < 0) return Status::error("--max-logprobs must be >= 0");
  if (o.reasoning_parser != "auto" && o.reasoning_parser != "none" && o.reasoning_parser != "deepseek_r1") {
    return Status::error("--reasoning-parser " + o.reasoning_parser + ": expected deepseek_r1, none or auto");
  }
  if (o.tool_call_parser && !api::tool_call_parser_from_name(*o.tool_call_parser)) {
    return Status::error("--tool-call-parser " + *o.tool_call_parser + ": expected one of " + api::tool_call_parser_names());
  }
  if (o.enable_auto_tool_choice && !o.tool_call_parser) {
    return Status::error("--enable-auto-tool-choice requires --tool-call-parser");
  }
  if (origins_text) {
    KILN_ASSIGN_OR_RETURN(o.allowed_origins, parse_origins(*origins_text));
  }
  KILN_RETURN_IF_ERROR(read_engine_environment(env, &o.engine));
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

}  // namespace kiln::cli
