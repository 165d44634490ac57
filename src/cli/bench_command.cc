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
#include "cli/engine_setup.h"
#include "cli/flag_parser.h"
#include "engine/engine.h"
#include "engine/throughput_benchmark.h"

namespace kiln {
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
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  std::optional<int> max_model_len;
  int block_size = 16;
  std::string kv_cache_memory = "2GiB";
  std::string device = "auto";
  double gpu_memory_utilization = 0.9;
  bool enforce_eager = false;
  int profile_steps = 0;
  bool enable_prefix_caching = true;
  int num_threads = 0;
  int64_t seed = 0;
  bool json = false;
  FlagParser parser("bench throughput",
                    "Offline throughput: NUM_PROMPTS random prompts of INPUT_LEN tokens, each "
                    "generating OUTPUT_LEN tokens (ignore_eos), through the engine");
  parser.add_string("model", &model_dir, "model directory (config.json + safetensors) (required)");
  parser.add_int("num-prompts", &num_prompts, "number of requests");
  parser.add_int("input-len", &input_len, "prompt tokens per request");
  parser.add_int("output-len", &output_len, "generated tokens per request");
  parser.add_int("max-num-seqs", &max_num_seqs, "maximum sequences per step");
  parser.add_int("max-num-batched-tokens", &max_num_batched_tokens, "token budget per step");
  parser.add_optional_int("max-model-len", &max_model_len,
                          "tokens per sequence (default: input-len + output-len)");
  parser.add_int("block-size", &block_size, "tokens per KV cache block");
  parser.add_string("kv-cache-memory", &kv_cache_memory,
                    "bytes for the KV cache, e.g. 2GiB (the CPU's budget; on a GPU it overrides the plan)");
  parser.add_bool("enable-prefix-caching", &enable_prefix_caching, "automatic prefix caching");
  parser.add_int("num-threads", &num_threads, "CPU threads for the forward (0: all cores)");
  parser.add_string("device", &device, "auto (cuda when a GPU is visible), cuda or cpu");
  parser.add_double("gpu-memory-utilization", &gpu_memory_utilization, "fraction of GPU memory kiln may use");
  parser.add_bool("enforce-eager", &enforce_eager, "no CUDA graphs for decode steps");
  parser.add_int("profile-steps", &profile_steps, "CUDA: log where every Nth step's GPU time goes, by operator (0: off)");
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
  BackendOptions backend_options;
  backend_options.device = device;
  backend_options.block_size = block_size;
  backend_options.max_model_len = max_model_len.value_or(input_len + output_len);
  backend_options.max_num_seqs = max_num_seqs;
  backend_options.max_num_batched_tokens = max_num_batched_tokens;
  if (parser.was_set("kv-cache-memory") || device == "cpu") backend_options.kv_cache_memory_bytes = *kv_bytes;
  backend_options.gpu_memory_utilization = gpu_memory_utilization;
  backend_options.enforce_eager = enforce_eager;
  backend_options.profile_every_n_steps = profile_steps;
  backend_options.num_threads = num_threads;
  backend_options.show_progress = !json;
  if (input_len + output_len > backend_options.max_model_len) {
    return usage_error("--input-len + --output-len exceeds --max-model-len");
  }
  EngineSetupOptions setup;
  setup.backend = backend_options;
  setup.enable_prefix_caching = enable_prefix_caching;
  setup.generation_config = "vllm";
  Result<RunningEngine> running = start_engine(model_dir, setup, nullptr);
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

}  // namespace kiln
