// `kiln bench throughput`: vLLM's offline throughput benchmark (random prompts, ignore_eos)
// through the engine, without HTTP, on the CPU backend.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/byte_size.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/flag_parser.h"
#include "engine/cpu_model_executor.h"
#include "engine/engine.h"
#include "engine/memory_plan.h"
#include "engine/throughput_benchmark.h"
#include "model/cpu_model.h"
#include "model/model_loader.h"

namespace kiln {
namespace {

// Activations of one step on the CPU: the residual stream and the per-layer buffers CpuModel
// keeps for max_num_batched_tokens rows, plus the logits rows. An estimate for the plan's log.
int64_t estimate_activation_bytes(const ModelConfig& c, int max_tokens, int max_seqs) {
  const int64_t per_token = 4LL * c.hidden_size + c.q_size() + 2LL * c.kv_size() +
                            c.q_size() + 3LL * c.intermediate_size;
  return (per_token * max_tokens + static_cast<int64_t>(max_seqs) * c.vocab_size) *
         static_cast<int64_t>(sizeof(float));
}

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
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  std::optional<int> max_model_len;
  int block_size = 16;
  std::string kv_cache_memory = "2GiB";
  bool enable_prefix_caching = true;
  int num_threads = 0;
  int64_t seed = 0;
  bool json = false;
  FlagParser parser("bench throughput",
                    "Offline throughput: NUM_PROMPTS random prompts of INPUT_LEN tokens, each "
                    "generating OUTPUT_LEN tokens (ignore_eos), through the engine on the CPU");
  parser.add_string("model", &model_dir, "model directory (config.json + safetensors) (required)");
  parser.add_int("num-prompts", &num_prompts, "number of requests");
  parser.add_int("input-len", &input_len, "prompt tokens per request");
  parser.add_int("output-len", &output_len, "generated tokens per request");
  parser.add_int("max-num-seqs", &max_num_seqs, "maximum sequences per step");
  parser.add_int("max-num-batched-tokens", &max_num_batched_tokens, "token budget per step");
  parser.add_optional_int("max-model-len", &max_model_len,
                          "tokens per sequence (default: input-len + output-len)");
  parser.add_int("block-size", &block_size, "tokens per KV cache block");
  parser.add_string("kv-cache-memory", &kv_cache_memory, "bytes for the KV cache, e.g. 2GiB");
  parser.add_bool("enable-prefix-caching", &enable_prefix_caching, "automatic prefix caching");
  parser.add_int("num-threads", &num_threads, "CPU threads for the forward (0: all cores)");
  parser.add_int64("seed", &seed, "seed of the random prompts and sampling");
  parser.add_bool("json", &json, "print the result as one JSON object");
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
  if (max_num_seqs < 1 || max_num_batched_tokens < 1 || block_size < 1 || num_threads < 0) {
    return usage_error("--max-num-seqs, --max-num-batched-tokens and --block-size must be positive");
  }
  const Result<int64_t> kv_bytes = parse_byte_size(kv_cache_memory);
  if (!kv_bytes.ok()) return usage_error("--kv-cache-memory: " + kv_bytes.message());

  LoadOptions load_options;
  load_options.show_progress = !json;
  Result<std::unique_ptr<LoadedModel>> loaded = load_model(model_dir, load_options);
  if (!loaded.ok()) return usage_error(loaded.message());
  const ModelConfig& config = (*loaded)->config;
  const int model_len = max_model_len.value_or(input_len + output_len);
  if (model_len > config.max_position_embeddings) {
    return usage_error("--max-model-len " + std::to_string(model_len) +
                       " exceeds the model's max_position_embeddings " +
                       std::to_string(config.max_position_embeddings));
  }
  if (input_len + output_len > model_len) {
    return usage_error("--input-len + --output-len exceeds --max-model-len");
  }
  const Result<MemoryPlan> plan = plan_kv_cache(
      *kv_bytes, kv_bytes_per_block(config, block_size, DType::kF32), block_size, model_len,
      (*loaded)->weight_bytes,
      estimate_activation_bytes(config, max_num_batched_tokens, max_num_seqs));
  if (!plan.ok()) return usage_error(plan.message());
  log_memory_plan(*plan);

  CpuModelOptions cpu_options;
  cpu_options.num_blocks = static_cast<int>(plan->num_blocks);
  cpu_options.block_size = block_size;
  cpu_options.num_threads = num_threads;
  Result<std::unique_ptr<CpuModel>> model = CpuModel::create(config, (*loaded)->weights, cpu_options);
  if (!model.ok()) return usage_error(model.message());

  EngineConfig engine_config;
  engine_config.scheduler.max_num_batched_tokens = max_num_batched_tokens;
  engine_config.scheduler.max_num_seqs = max_num_seqs;
  engine_config.scheduler.max_model_len = model_len;
  engine_config.block_size = block_size;
  engine_config.num_blocks = plan->num_blocks;
  engine_config.enable_prefix_caching = enable_prefix_caching;
  Engine engine(engine_config, std::make_unique<CpuModelExecutor>(std::move(model).value()),
                nullptr);

  ThroughputBenchmarkOptions options;
  options.num_prompts = num_prompts;
  options.input_len = input_len;
  options.output_len = output_len;
  options.vocab_size = config.vocab_size;
  options.seed = static_cast<uint64_t>(seed);
  options.show_progress = !json;
  const Result<ThroughputResult> result = run_throughput_benchmark(&engine, options);
  if (!result.ok()) {
    std::fprintf(stderr, "kiln bench throughput: %s\n", result.message().c_str());
    return 1;
  }
  const ThroughputResult& r = *result;
  if (json) {
    std::printf("%s\n", result_json(r).c_str());
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
  return 0;
}

}  // namespace

int run_bench_command(const CommandArgs& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fprintf(args.empty() ? stderr : stdout,
                 "usage: kiln bench throughput --model DIR [flags]   (kiln bench throughput "
                 "--help for its flags)\n");
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "throughput") return run_throughput(CommandArgs(args.begin() + 1, args.end()));
  std::fprintf(stderr, "kiln bench: unknown benchmark '%s' (known: throughput)\n", args[0].c_str());
  return 2;
}

}  // namespace kiln
