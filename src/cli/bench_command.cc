// `kiln bench throughput`: vLLM's offline throughput benchmark (random prompts, ignore_eos)
// through the engine, without HTTP, on either backend.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/engine_start.h"
#include "cli/flag_parser.h"
#include "cli/grammar_vocabulary.h"
#include "engine/engine_args.h"
#include "engine/engine.h"
#include "engine/throughput_benchmark.h"
#include "grammar/grammar_compiler.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

std::string result_json(const ThroughputResult& r) {
  auto latency = [](const LatencySummary& s) {
    return nlohmann::ordered_json{{"mean", s.mean}, {"p50", s.p50}, {"p99", s.p99}};
  };
  nlohmann::ordered_json j{{"num_requests", r.num_requests},
                           {"elapsed_s", r.elapsed_s},
                           {"output_tokens_per_s", r.output_tokens_per_s},
                           {"total_tokens_per_s", r.total_tokens_per_s},
                           {"requests_per_s", r.requests_per_s},
                           {"ttft_ms", latency(r.ttft_ms)},
                           {"itl_ms", latency(r.itl_ms)}};
  return j.dump();
}

int run_throughput(const CommandArgs& args) {
  std::string model_dir;
  int num_prompts = 100;
  int input_len = 128;
  int output_len = 128;
  int64_t seed = 0;
  bool json = false;
  EngineArgs engine_args;
  engine_args.max_num_batched_tokens = 2048;
  engine_args.generation_config = "vllm";  // random prompts: vLLM's neutral sampling
  FlagParser parser("bench throughput",
                    "Offline throughput: NUM_PROMPTS random prompts of INPUT_LEN tokens, each "
                    "generating OUTPUT_LEN tokens (ignore_eos), through the engine");
  parser.add_string("model", &model_dir, "model directory (config.json + safetensors) (required)");
  parser.add_int("num-prompts", &num_prompts, "number of requests");
  parser.add_int("input-len", &input_len, "prompt tokens per request");
  parser.add_int("output-len", &output_len, "generated tokens per request");
  add_engine_flags(parser, &engine_args);
  parser.set_help("max-model-len", "tokens per sequence (default: input-len + output-len)");
  parser.set_help("max-num-batched-tokens", "maximum tokens in one engine step");
  parser.set_help("kv-cache-memory",
                  "bytes for the KV cache, e.g. 2GiB (the CPU's budget; on a GPU it overrides the plan)", "2GiB");
  parser.add_int64("seed", &seed, "seed of the random prompts and sampling");
  parser.add_bool("json", &json, "print the result as one JSON object");
  std::string output_regex;
  std::string output_grammar;
  parser.add_string("output-regex", &output_regex,
                    "structured outputs: every output follows this regex (one that never has to end, e.g. a "
                    "repeated record: outputs run OUTPUT_LEN tokens)");
  parser.add_string("output-grammar", &output_grammar, "structured outputs: the same with a GBNF grammar");
  const Status parsed = parser.parse(args);
  const auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "kiln bench throughput: %s\n", message.c_str());
    return 2;
  };
  if (!parsed.ok()) return usage_error(parsed.message());
  if (parser.help_requested()) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (model_dir.empty()) return usage_error("--model is required");
  if (num_prompts < 1 || input_len < 1 || output_len < 1) {
    return usage_error("--num-prompts, --input-len and --output-len must be at least 1");
  }
  if (!engine_args.max_model_len) engine_args.max_model_len = input_len + output_len;
  if (input_len + output_len > *engine_args.max_model_len) {
    return usage_error("--input-len + --output-len exceeds --max-model-len");
  }
  if (!output_regex.empty() && !output_grammar.empty()) {
    return usage_error("--output-regex and --output-grammar exclude each other");
  }
  engine_args.show_progress = !json;
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  double grammar_compile_ms = 0;
  if (!output_regex.empty() || !output_grammar.empty()) {
    auto model_config = load_model_config(std::filesystem::path(model_dir) / "config.json");
    if (!model_config.ok()) return usage_error(model_config.message());
    auto tokenizer = tokenizer::Tokenizer::load(std::filesystem::path(model_dir) / "tokenizer.json");
    if (!tokenizer.ok()) return usage_error("structured outputs need the model's tokenizer: " + tokenizer.message());
    grammar::GrammarCompiler compiler(grammar_vocabulary(**tokenizer, *model_config), {.warm_up = false});
    grammar::GrammarSpec spec;
    spec.kind = output_regex.empty() ? grammar::GrammarKind::kEbnf : grammar::GrammarKind::kRegex;
    spec.text = output_regex.empty() ? output_grammar : output_regex;
    const auto begin = std::chrono::steady_clock::now();
    auto compiled = compiler.compile(spec);
    grammar_compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
    if (!compiled.ok()) return usage_error(std::string(output_regex.empty() ? "--output-grammar: " : "--output-regex: ") + compiled.message());
    grammar = *compiled;
  }
  Result<RunningEngine> running = start_engine_from_args(model_dir, engine_args, nullptr);
  if (!running.ok()) return usage_error(running.message());
  Engine& engine = *running->engine;
  const ModelConfig& config = running->config;
  ThroughputBenchmarkOptions options;
  options.num_prompts = num_prompts;
  options.input_len = input_len;
  options.output_len = output_len;
  options.vocab_size = config.vocab_size;
  options.seed = static_cast<uint64_t>(seed);
  options.show_progress = !json;
  options.grammar = grammar;
  const double busy_before = running->executor->device_busy_seconds();
  const Result<ThroughputResult> result = run_throughput_benchmark(&engine, options);
  const double busy_seconds = running->executor->device_busy_seconds() - busy_before;
  if (!result.ok()) {
    std::fprintf(stderr, "kiln bench throughput: %s\n", result.message().c_str());
    return 1;
  }
  const ThroughputResult& r = *result;
  const double device_idle_fraction =
      busy_before >= 0 && r.elapsed_s > 0 ? std::max(0.0, 1.0 - busy_seconds / r.elapsed_s) : -1;
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::parse(result_json(r));
    out["device_idle_fraction"] = device_idle_fraction;
    out["tensor_parallel_size"] = engine_args.tensor_parallel_size;
    if (grammar) out["grammar_compile_ms"] = grammar_compile_ms;
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n",
              r.requests_per_s, r.total_tokens_per_s, r.output_tokens_per_s);
  std::printf("Requests: %d in %.2f s (%lld prompt + %lld output tokens)\n", r.num_requests,
              r.elapsed_s, static_cast<long long>(r.prompt_tokens),
              static_cast<long long>(r.output_tokens));
  std::printf("TTFT (ms): mean %.2f, p50 %.2f, p99 %.2f\n", r.ttft_ms.mean, r.ttft_ms.p50,
              r.ttft_ms.p99);
  std::printf("ITL  (ms): mean %.2f, p50 %.2f, p99 %.2f\n", r.itl_ms.mean, r.itl_ms.p50,
              r.itl_ms.p99);
  if (grammar) std::printf("Structured outputs: every output under one grammar, compiled in %.1f ms\n", grammar_compile_ms);
  if (device_idle_fraction >= 0) std::printf("GPU idle between steps: %.1f%% of the run\n", 100 * device_idle_fraction);
  return 0;
}

}  // namespace

int run_bench_command(const CommandArgs& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fprintf(args.empty() ? stderr : stdout,
                 "usage: kiln bench throughput|latency --model DIR [flags]   (kiln bench "
                 "throughput --help, kiln bench latency --help for their flags)\n");
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "throughput") return run_throughput(CommandArgs(args.begin() + 1, args.end()));
  if (args[0] == "latency") return run_bench_latency(CommandArgs(args.begin() + 1, args.end()));
  std::fprintf(stderr, "kiln bench: unknown benchmark '%s' (known: throughput, latency)\n", args[0].c_str());
  return 2;
}

}  // namespace kiln::cli
