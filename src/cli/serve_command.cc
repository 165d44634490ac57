// `kiln serve MODEL`: the OpenAI-compatible server (server/), with vLLM's flags.
#include <malloc.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "api/reasoning_parser.h"
#include "base/log.h"
#include "cli/engine_start.h"
#include "cli/grammar_vocabulary.h"
#include "cli/process_environment.h"
#include "engine/model_backend.h"
#include "hub/hub_config.h"
#include "hub/pull.h"
#include "cli/commands.h"
#include "cli/serve_dashboard.h"
#include "cli/serve_options.h"
#include "cli/version.h"
#include "model/model_config.h"
#include "server/http_server.h"
#include "server/openai_service.h"
#include "server/tokenizer_adapter.h"
#include "tracing/otlp_exporter.h"
#include "tracing/tracer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace kiln::cli {
namespace {

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "kiln serve: %s\n", message.c_str());
  return code;
}

// A repo id (org/name) is pulled into the Hugging Face cache, or found there; a directory is
// used as it is.
Result<std::filesystem::path> resolve_model_dir(const std::string& model, const EnvLookup& env) {
  KILN_ASSIGN_OR_RETURN(hub::HubConfig hub_config, hub::make_hub_config(env, {}));
  hub::PullOptions pull;
  KILN_RETURN_IF_ERROR(hub::apply_hub_timeouts(env, &pull));
  auto dir = hub::resolve_model(model, hub_config, pull);
  if (!dir.ok()) return Status::error(hub::redact_token(dir.message(), hub_config));
  return dir;
}

}  // namespace

int run_serve_command(const CommandArgs& args) {
  // A fixed mmap threshold: glibc otherwise raises it after every large free, so one request
  // with a 10 MB prompt left hundreds of MB of freed buffers in the heap for good. Blocks of
  // 1 MiB and more (prompt and response buffers, token vectors) go back to the system when freed.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
  const EnvLookup env = process_environment();
  std::string help;
  auto parsed = parse_serve_options(args, env, &help);
  if (!parsed.ok()) return fail(parsed.message(), 2);
  if (!help.empty()) {
    std::fputs(help.c_str(), stdout);
    return 0;
  }
  const ServeOptions& options = *parsed;
  auto resolved = resolve_model_dir(options.model, env);
  if (!resolved.ok()) return fail(resolved.message(), std::filesystem::exists(options.model) ? 2 : 1);
  const std::filesystem::path dir = *resolved;

  auto model_config = load_model_config(dir / "config.json");
  if (!model_config.ok()) return fail(model_config.message(), 2);
  auto tokenizer = tokenizer::Tokenizer::load(dir / "tokenizer.json");
  if (!tokenizer.ok()) return fail(tokenizer.message(), 2);
  auto tokenizer_config = tokenizer::load_tokenizer_config(dir / "tokenizer_config.json");
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
  auto chat_template = tokenizer::ChatTemplate::compile(template_text);
  if (!chat_template.ok()) return fail(chat_template.message(), 2);

  // The device first, so that every default derived from it (the step's token budget) and every
  // check against it (--dtype) sees the device that will run.
  auto engine_args = resolve_engine_args(options.engine, *model_config, detect_devices());
  if (!engine_args.ok()) return fail(engine_args.message(), 2);
  const int max_model_len = engine_args->max_model_len;

  server::ServerConfig server_config;
  server_config.host = options.host;
  server_config.port = options.port;
  server_config.num_threads = options.http_threads;
  server_config.api_key = options.api_key;
  server_config.allowed_origins = options.allowed_origins;
  server_config.max_request_bytes = static_cast<size_t>(options.max_request_bytes);
  server_config.drain_timeout_s = options.drain_timeout_s;
  server_config.keep_alive_timeout_s = options.http_keep_alive_timeout_s;
  server_config.header_timeout_s = options.http_header_timeout_s;
  server_config.body_timeout_s = options.http_body_timeout_s;
  server_config.body_min_rate_bytes_per_s = options.http_body_min_rate;
  server_config.write_timeout_s = options.http_write_timeout_s;
  server_config.version = kKilnVersion;

  api::ServingConfig serving;
  serving.served_model_name = options.served_model_name.value_or(options.model);
  serving.model_root = options.model;
  serving.max_model_len = max_model_len;
  const std::string reasoning_parser = resolve_reasoning_parser(options.reasoning_parser, serving.served_model_name);
  serving.reasoning_parser = *api::parse_reasoning_parser_name(reasoning_parser);
  serving.enable_prompt_tokens_details = options.enable_prompt_tokens_details;
  serving.limits.max_logprobs = options.max_logprobs;
  serving.limits.vocab_size = (*tokenizer)->vocab_size();
  serving.limits.max_sequences_per_request = options.max_seqs_per_request;
  serving.limits.trust_request_chat_template = options.trust_request_chat_template;
  if (options.tool_call_parser) serving.tool_call_parser = api::tool_call_parser_from_name(*options.tool_call_parser);
  serving.enable_auto_tool_choice = options.enable_auto_tool_choice;
  // Output constraints compile on their own thread against the tokenizer's vocabulary.
  grammar::GrammarCompiler grammars(grammar_vocabulary(**tokenizer, *model_config));
  if (auto id = (*tokenizer)->token_to_id("</think>")) serving.reasoning_end_token_id = *id;

  server::TokenizerCodec codec(*tokenizer);
  server::ChatTemplateRenderer renderer(std::move(*chat_template), tokenizer_config->bos_token.value_or(""),
                                        tokenizer_config->eos_token.value_or(""));
  // Declared before the service: spans are handed over until the last request is gone.
  std::unique_ptr<tracing::OtlpExporter> exporter;
  std::unique_ptr<tracing::Tracer> tracer;
  if (options.otlp_traces_endpoint) {
    tracing::OtlpExporterConfig trace_config;
    trace_config.endpoint = *options.otlp_traces_endpoint;
    trace_config.resource.attributes = {{"service.name", options.otel_service_name},
                                        {"service.version", std::string(kKilnVersion)}};
    trace_config.scope_version = kKilnVersion;
    auto created = tracing::OtlpExporter::create(std::move(trace_config));
    if (!created.ok()) return fail(created.message(), 2);
    exporter = std::move(*created);
    tracer = std::make_unique<tracing::Tracer>(exporter.get(), options.collect_detailed_traces.has_value());
    KILN_LOG(Info) << "Tracing: a span per request to " << *options.otlp_traces_endpoint << " (OTLP/HTTP protobuf"
                   << (options.collect_detailed_traces ? ", with phase spans" : "") << ")";
  }
  server::OpenAiService service(server_config, serving);
  service.set_tracer(tracer.get());
  server::HttpServer http(&service);

  // Listen first, so that /health answers 503 while the weights load (as vLLM's startup
  // probe expects), then serve from HTTP threads while this thread loads the model.
  const Status listening = http.listen();
  if (!listening.ok()) return fail(listening.message(), 1);
  KILN_LOG(Info) << "kiln " << kKilnVersion << " listening on http://" << options.host << ":" << http.port()
                 << " (loading " << options.model << ")";
  std::thread http_thread([&http] { http.run(/*handle_signals=*/true); });

  auto running = start_engine(dir, *model_config, *engine_args, *tokenizer);
  if (!running.ok()) {
    http.stop();
    http_thread.join();
    return fail(running.message(), 1);
  }
  if (running->device == "cpu") {
    KILN_LOG(Info) << "--dtype " << options.engine.dtype << ": the CPU backend computes in float32";
  }
  if (options.engine.seed) {
    KILN_LOG(Info) << "--seed " << static_cast<int64_t>(*options.engine.seed)
                   << ": requests without a seed get seeds drawn from it";
  }
  metrics::CacheConfigInfo cache;
  cache.block_size = options.engine.block_size;
  cache.num_gpu_blocks = running->plan.num_blocks;
  cache.gpu_memory_utilization = options.engine.gpu_memory_utilization;
  cache.enable_prefix_caching = options.engine.enable_prefix_caching;
  service.set_ready({running->engine.get(), &codec, &renderer, &grammars}, cache,
                    make_dashboard_info(options.model, *engine_args, reasoning_parser, *running));
  KILN_LOG(Info) << "Serving " << serving.served_model_name << " on " << running->device
                 << ": http://" << options.host << ":" << http.port() << "/v1 (chat UI at /, dashboard at /dashboard)";
  http_thread.join();
  // In-flight callbacks hold connections: the engine stops (aborting what is left) before the
  // server's objects go.
  running->engine.reset();
  KILN_LOG(Info) << "kiln serve stopped";
  return 0;
}

}  // namespace kiln::cli
