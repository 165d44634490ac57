// `kiln serve MODEL`: the OpenAI-compatible server (server/), with vLLM's flags.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "api/reasoning_parser.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/serve_options.h"
#include "cli/version.h"
#include "model/model_config.h"
#include "server/http_server.h"
#include "server/openai_service.h"
#include "server/tokenizer_adapter.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace kiln {
namespace {

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "kiln serve: %s\n", message.c_str());
  return code;
}

}  // namespace

int run_serve_command(const CommandArgs& args) {
  std::string help;
  auto parsed = parse_serve_options(args, [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
  }, &help);
  if (!parsed.ok()) return fail(parsed.message(), 2);
  if (!help.empty()) {
    std::fputs(help.c_str(), stdout);
    return 0;
  }
  const ServeOptions& options = *parsed;
  const std::filesystem::path dir = options.model;

  auto model_config = load_model_config(dir / "config.json");
  if (!model_config.ok()) return fail(model_config.message(), 2);
  auto tokenizer = Tokenizer::load(dir / "tokenizer.json");
  if (!tokenizer.ok()) return fail(tokenizer.message(), 2);
  auto tokenizer_config = load_tokenizer_config(dir / "tokenizer_config.json");
  if (!tokenizer_config.ok()) return fail(tokenizer_config.message(), 2);

  std::string template_text;
  if (options.chat_template) {
    auto text = load_chat_template_flag(*options.chat_template);
    if (!text.ok()) return fail(text.message(), 2);
    template_text = *text;
  } else if (const std::string* text = tokenizer_config->chat_template()) {
    template_text = *text;
  } else {
    return fail((dir / "tokenizer_config.json").string() + " has no chat_template; give --chat-template", 2);
  }
  auto chat_template = ChatTemplate::compile(template_text);
  if (!chat_template.ok()) return fail(chat_template.message(), 2);

  const int max_model_len = options.max_model_len.value_or(model_config->max_position_embeddings);
  if (max_model_len > model_config->max_position_embeddings) {
    return fail("--max-model-len " + std::to_string(max_model_len) + " exceeds the model's max_position_embeddings " +
                    std::to_string(model_config->max_position_embeddings),
                2);
  }

  server::ServerConfig server_config;
  server_config.host = options.host;
  server_config.port = options.port;
  server_config.num_threads = options.http_threads;
  server_config.api_key = options.api_key;
  server_config.allowed_origins = options.allowed_origins;
  server_config.max_request_bytes = static_cast<size_t>(options.max_request_bytes);
  server_config.drain_timeout_s = options.drain_timeout_s;
  server_config.version = kKilnVersion;

  api::ServingConfig serving;
  serving.served_model_name = options.served_model_name.value_or(options.model);
  serving.model_root = options.model;
  serving.max_model_len = max_model_len;
  serving.reasoning_parser =
      *api::parse_reasoning_parser_name(resolve_reasoning_parser(options.reasoning_parser, serving.served_model_name));
  serving.enable_prompt_tokens_details = options.enable_prompt_tokens_details;
  serving.limits.max_logprobs = options.max_logprobs;
  serving.limits.vocab_size = (*tokenizer)->vocab_size();

  server::TokenizerCodec codec(*tokenizer);
  server::ChatTemplateRenderer renderer(std::move(*chat_template), tokenizer_config->bos_token.value_or(""),
                                        tokenizer_config->eos_token.value_or(""));
  server::OpenAiService service(server_config, serving);
  server::HttpServer http(&service);

  // The engine (engine/engine_client.h) is built here from `options` and `*model_config` once
  // the engine layer exists: load weights, plan KV blocks from --gpu-memory-utilization /
  // --kv-cache-memory, start its thread, then service.set_ready({engine, &codec, &renderer},
  // cache info) while the server already answers /health with 503. Until then serve refuses to
  // start rather than listen forever in the loading state.
  (void)codec;
  (void)renderer;
  (void)http;
  return fail("this build has no inference engine yet (engine layer not merged); cannot serve " + options.model, 1);
}

}  // namespace kiln
