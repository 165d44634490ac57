// `kiln serve`'s flags, with vLLM's names and defaults, and the environment it reads
// (KILN_API_KEY, VLLM_API_KEY, and the engine's: cli/engine_flags.h). Parsing is separate from
// running so that it is unit-tested.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/env_lookup.h"
#include "base/status.h"
#include "cli/commands.h"
#include "engine/engine_args.h"

namespace kiln::cli {

struct ServeOptions {
  std::string model;  // model directory or Hugging Face repo id (positional, as `vllm serve MODEL`, or --model)
  EngineArgs engine;  // the engine's flags (cli/engine_flags.h) and --seed
  std::string host = "0.0.0.0";
  int port = 8000;
  std::optional<std::string> served_model_name;  // default: the model argument
  std::optional<std::string> chat_template;      // a file path or the template text itself
  std::optional<std::string> api_key;
  std::string reasoning_parser = "auto";         // "auto": deepseek_r1 for DeepSeek-R1 models
  // Tool calling: how tool calls are read from the model's text, and whether tool_choice "auto"
  // is served (vLLM's flags; "auto" needs both).
  std::optional<std::string> tool_call_parser;   // llama3_json, hermes, deepseek_v3
  bool enable_auto_tool_choice = false;
  std::vector<std::string> allowed_origins = {"*"};
  int64_t max_request_bytes = 32 << 20;
  double drain_timeout_s = 30;
  int max_logprobs = 20;
  bool enable_prompt_tokens_details = false;
  int http_threads = 4;
  // Limits against hostile or broken clients (README "Security and limits").
  int64_t max_seqs_per_request = 4096;    // prompts x n of one request
  bool trust_request_chat_template = false;
  double http_keep_alive_timeout_s = 5;
  double http_header_timeout_s = 5;
  double http_body_timeout_s = 10;
  double http_body_min_rate = 1024;       // bytes per second
  double http_write_timeout_s = 30;
  // Tracing (off by default): vLLM's flags; OTLP over HTTP with protobuf.
  std::optional<std::string> otlp_traces_endpoint;
  std::optional<std::string> collect_detailed_traces;  // model, worker, all (comma-separated)
  std::string otel_service_name = "kiln";               // OTEL_SERVICE_NAME
};

// Parses and validates; on --help returns nullopt-free options with *help_text set.
Result<ServeOptions> parse_serve_options(const CommandArgs& args, const EnvLookup& env, std::string* help_text);

// "deepseek_r1" or "none" for reasoning_parser "auto" and the model's name or path.
std::string resolve_reasoning_parser(const std::string& flag, const std::string& model_name);

// --chat-template: a readable file's contents, else the text itself (vLLM's rule).
Result<std::string> load_chat_template_flag(const std::string& value);

}  // namespace kiln::cli
