// `kiln bench latency`: time to first token and per-token decode latency of BATCH_SIZE requests
// of INPUT_LEN random tokens generating OUTPUT_LEN tokens (ignore_eos, greedy), repeated
// NUM_ITERS times after a warm-up, through the engine. On a GPU it also measures the copy
// bandwidth in the same run and reports decode speed against the bandwidth roofline: the bytes
// a decode step must read (all weights, plus every sequence's K/V so far) over that bandwidth.
#include <chrono>
#include <cstdio>
#include <string>
#include <algorithm>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/byte_size.h"
#include "cli/commands.h"
#include "cli/engine_setup.h"
#include "cli/flag_parser.h"
#include "engine/throughput_benchmark.h"

#ifdef KILN_HAVE_CUDA
#include "kernels/cuda/bandwidth.h"
#endif

namespace kiln {

int run_bench_latency(const CommandArgs& args) {
  std::string model_dir;
  std::string device = "auto";
  int input_len = 128;
  int output_len = 128;
  int batch_size = 1;
  int num_iters = 3;
  std::optional<int> max_model_len;
  int max_num_batched_tokens = 8192;
  double gpu_memory_utilization = 0.9;
  bool enforce_eager = false;
  int profile_steps = 0;
  std::optional<std::string> kv_cache_memory;
  std::optional<std::string> gpu_memory_limit;
  int num_threads = 0;
  bool json = false;
  FlagParser parser("bench latency",
                    "Latency: BATCH_SIZE requests of INPUT_LEN random tokens generating OUTPUT_LEN tokens "
                    "(ignore_eos, greedy), NUM_ITERS times after one warm-up");
  parser.add_string("model", &model_dir, "model directory (required)");
  parser.add_string("device", &device, "auto (cuda when a GPU is visible), cuda or cpu");
  parser.add_int("input-len", &input_len, "prompt tokens per request (the decode context)");
  parser.add_int("output-len", &output_len, "generated tokens per request");
  parser.add_int("batch-size", &batch_size, "requests running together");
  parser.add_int("num-iters", &num_iters, "timed repetitions");
  parser.add_optional_int("max-model-len", &max_model_len, "tokens per sequence (default: input + output)");
  parser.add_int("max-num-batched-tokens", &max_num_batched_tokens, "token budget per step (prefill chunk)");
  parser.add_double("gpu-memory-utilization", &gpu_memory_utilization, "fraction of GPU memory kiln may use");
  parser.add_bool("enforce-eager", &enforce_eager, "no CUDA graphs for decode steps");
  parser.add_int("profile-steps", &profile_steps, "CUDA: log where every Nth step's GPU time goes, by operator (0: off)");
  parser.add_optional_string("kv-cache-memory", &kv_cache_memory, "KV cache bytes (CPU: default 2GiB)");
  parser.add_int("num-threads", &num_threads, "CPU threads (0: all cores)");
  parser.add_optional_string("gpu-memory-limit", &gpu_memory_limit,
                             "treat the GPU as having this much memory (e.g. 24GiB), to rehearse smaller cards");
  parser.add_bool("json", &json, "print one JSON object");
  const auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "kiln bench latency: %s\n", message.c_str());
    return 2;
  };
  const Status parsed = parser.parse(args);
  if (!parsed.ok()) return usage_error(parsed.message());
  if (parser.help_requested()) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (model_dir.empty()) return usage_error("--model is required");
  if (input_len < 1 || output_len < 2 || batch_size < 1 || num_iters < 1) {
    return usage_error("--input-len, --batch-size and --num-iters must be at least 1, --output-len at least 2");
  }
  EngineSetupOptions setup;
  setup.backend.device = device;
  setup.backend.max_model_len = max_model_len.value_or(input_len + output_len);
  setup.backend.max_num_seqs = std::max(batch_size, 1);
  setup.backend.max_num_batched_tokens = std::max(max_num_batched_tokens, batch_size);
  setup.backend.gpu_memory_utilization = gpu_memory_utilization;
  setup.backend.enforce_eager = enforce_eager;
  setup.backend.profile_every_n_steps = profile_steps;
  setup.backend.num_threads = num_threads;
  setup.backend.show_progress = !json;
  if (kv_cache_memory) {
    auto bytes = parse_byte_size(*kv_cache_memory);
    if (!bytes.ok()) return usage_error("--kv-cache-memory: " + bytes.message());
    setup.backend.kv_cache_memory_bytes = *bytes;
  }
  if (gpu_memory_limit) {
    auto bytes = parse_byte_size(*gpu_memory_limit);
    if (!bytes.ok()) return usage_error("--gpu-memory-limit: " + bytes.message());
    setup.backend.gpu_memory_limit_bytes = *bytes;
  }
  setup.enable_prefix_caching = false;  // every iteration's prompt must be computed
  setup.generation_config = "vllm";
  auto running = start_engine(model_dir, setup, nullptr);
  if (!running.ok()) return usage_error(running.message());

  std::vector<double> ttft, itl;
  // GPU busy time over the measured iterations' wall time: what is left is the device idling
  // between steps (host scheduling, sampling bookkeeping, detokenizing).
  double busy_seconds = 0, wall_seconds = 0;
  for (int iter = -1; iter < num_iters; ++iter) {
    ThroughputBenchmarkOptions options;
    options.num_prompts = batch_size;
    options.input_len = input_len;
    options.output_len = output_len;
    options.vocab_size = running->config.vocab_size;
    options.seed = static_cast<uint64_t>(iter + 1000);
    options.show_progress = false;
    const double busy_before = running->executor->device_busy_seconds();
    const auto wall_before = std::chrono::steady_clock::now();
    auto result = run_throughput_benchmark(running->engine.get(), options);
    if (iter >= 0) {
      wall_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
      busy_seconds += running->executor->device_busy_seconds() - busy_before;
    }
    if (!result.ok()) {
      std::fprintf(stderr, "kiln bench latency: %s\n", result.message().c_str());
      return 1;
    }
    if (iter < 0) continue;  // warm-up
    ttft.push_back(result->ttft_ms.mean);
    itl.push_back(result->itl_ms.mean);
    if (!json) {
      std::fprintf(stderr, "iteration %d: TTFT %.2f ms, ITL %.3f ms\n", iter + 1, result->ttft_ms.mean,
                   result->itl_ms.mean);
    }
  }
  const LatencySummary ttft_ms = summarize_latencies(ttft);
  const LatencySummary itl_ms = summarize_latencies(itl);
  const double decode_tokens_per_s = 1000.0 / itl_ms.mean;

  // Bytes one decode step reads at the mean context of the run, for the roofline.
  const ModelConfig& c = running->config;
  const double kv_bytes_per_token = 2.0 * c.num_hidden_layers * c.kv_size() * (running->device == "cuda" ? 2 : 4);
  const double mean_context = input_len + output_len / 2.0;
  const double step_bytes = static_cast<double>(running->plan.weights_bytes) + batch_size * mean_context * kv_bytes_per_token;
  double copy_gbps = 0;
#ifdef KILN_HAVE_CUDA
  if (running->device == "cuda") {
    auto measured = cuda::measure_copy_bandwidth_gbps();
    if (measured.ok()) copy_gbps = *measured;
  }
#endif
  const double roofline_steps_per_s = copy_gbps > 0 ? copy_gbps * 1e9 / step_bytes : 0;
  const double roofline_fraction = roofline_steps_per_s > 0 ? decode_tokens_per_s / roofline_steps_per_s : 0;
  const bool measured_busy = running->executor->device_busy_seconds() >= 0 && wall_seconds > 0;
  const double device_idle_fraction = measured_busy ? std::max(0.0, 1.0 - busy_seconds / wall_seconds) : -1;

  if (json) {
    auto summary = [](const LatencySummary& s) {
      return nlohmann::ordered_json{{"mean", s.mean}, {"p50", s.p50}, {"p99", s.p99}};
    };
    nlohmann::ordered_json out{{"device", running->device},
                               {"input_len", input_len},
                               {"output_len", output_len},
                               {"batch_size", batch_size},
                               {"num_iters", num_iters},
                               {"ttft_ms", summary(ttft_ms)},
                               {"itl_ms", summary(itl_ms)},
                               {"decode_tokens_per_s_per_seq", decode_tokens_per_s},
                               {"step_bytes", step_bytes},
                               {"copy_bandwidth_gbps", copy_gbps},
                               {"roofline_tokens_per_s_per_seq", roofline_steps_per_s},
                               {"roofline_fraction", roofline_fraction},
                               {"device_idle_fraction", device_idle_fraction}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("Latency on %s: batch %d, %d prompt + %d output tokens, %d iterations\n", running->device.c_str(),
              batch_size, input_len, output_len, num_iters);
  std::printf("TTFT (ms): mean %.2f, p50 %.2f, p99 %.2f\n", ttft_ms.mean, ttft_ms.p50, ttft_ms.p99);
  std::printf("ITL  (ms): mean %.3f, p50 %.3f, p99 %.3f  -> %.1f tokens/s per sequence\n", itl_ms.mean, itl_ms.p50,
              itl_ms.p99, decode_tokens_per_s);
  if (copy_gbps > 0) {
    std::printf("Roofline: %.2f GB per step / %.0f GB/s copy bandwidth = %.1f tokens/s; reached %.1f%%\n",
                step_bytes / 1e9, copy_gbps, roofline_steps_per_s, 100 * roofline_fraction);
  }
  if (measured_busy) {
    std::printf("GPU idle between steps: %.1f%% of the measured wall time\n", 100 * device_idle_fraction);
  }
  return 0;
}

}  // namespace kiln
