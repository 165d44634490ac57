// `kiln bench latency`: time to first token and per-token decode latency of BATCH_SIZE requests
// of INPUT_LEN random tokens generating OUTPUT_LEN tokens (ignore_eos), repeated NUM_ITERS times
// after a warm-up, through the engine. On a GPU it also measures the copy bandwidth in the same
// run and reports decode speed against the bandwidth roofline: the bytes a decode step must read
// (all weights, plus every sequence's K/V so far) over that bandwidth.
//
// With --speculative-config every iteration first runs the same requests without drafts (the
// base, in the same run on the same engine), then with them, and reports both, the speed-up and
// the acceptance. Method "oracle" (here only) drafts the base run's greedy outputs, corrupted
// at 1 - oracle_acceptance_rate per token, to measure the machinery at a fixed acceptance.
#include <cstdio>
#include <string>
#include <algorithm>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/engine_start.h"
#include "cli/flag_parser.h"
#include "engine/engine_args.h"
#include "engine/spec/oracle_proposer.h"
#include "engine/throughput_benchmark.h"

#ifdef KILN_HAVE_CUDA
#include "kernels/cuda/bandwidth.h"
#endif

namespace kiln::cli {

int run_bench_latency(const CommandArgs& args) {
  std::string model_dir;
  int input_len = 128;
  int output_len = 128;
  int batch_size = 1;
  int num_iters = 3;
  double temperature = -1;  // unset: 1.0, or greedy with --speculative-config
  bool json = false;
  EngineArgs engine_args;
  engine_args.max_num_batched_tokens = 8192;
  engine_args.enable_prefix_caching = false;  // every iteration's prompt must be computed
  engine_args.generation_config = "vllm";
  FlagParser parser("bench latency",
                    "Latency: BATCH_SIZE requests of INPUT_LEN random tokens generating OUTPUT_LEN tokens "
                    "(ignore_eos, greedy), NUM_ITERS times after one warm-up");
  parser.add_string("model", &model_dir, "model directory (required)");
  parser.add_int("input-len", &input_len, "prompt tokens per request (the decode context)");
  parser.add_int("output-len", &output_len, "generated tokens per request");
  parser.add_int("batch-size", &batch_size, "requests running together");
  parser.add_int("num-iters", &num_iters, "timed repetitions");
  parser.add_double("temperature", &temperature,
                    "sampling temperature (default 1.0; 0, greedy, with --speculative-config, which the oracle needs)");
  add_engine_flags(parser, &engine_args);
  parser.set_help("max-model-len", "tokens per sequence (default: input + output)");
  parser.set_help("max-num-seqs", "maximum sequences in one batch", "--batch-size");
  parser.set_help("kv-cache-memory", "KV cache bytes (CPU: default 2GiB)");
  parser.set_help("max-num-batched-tokens", "token budget per step (prefill chunk; at least --batch-size)");
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
  if (!engine_args.max_model_len) engine_args.max_model_len = input_len + output_len;
  if (!parser.was_set("max-num-seqs")) engine_args.max_num_seqs = batch_size;
  engine_args.max_num_batched_tokens = std::max(*engine_args.max_num_batched_tokens, batch_size);
  engine_args.show_progress = !json;
  const SpeculativeConfig& speculative = engine_args.speculative;
  const bool speculating = speculative.enabled();
  SpeculativeConfig resolved_speculative = speculative;  // for the report (suffix's default length)
  (void)resolve_speculative_config(&resolved_speculative);
  if (temperature < 0) temperature = speculating ? 0.0 : 1.0;
  engine_args.records_oracle_drafts = true;
  std::shared_ptr<OracleRecordings> recordings;
  std::function<std::unique_ptr<DraftProposer>()> make_oracle;
  if (speculative.method == "oracle") {
    if (temperature != 0) return usage_error("--speculative-config method oracle drafts greedy outputs: use --temperature 0");
    recordings = std::make_shared<OracleRecordings>();
    make_oracle = [recordings, rate = speculative.oracle_acceptance_rate] {
      return std::make_unique<OracleProposer>(recordings, rate, 1);
    };
  }
  auto running = start_engine_from_args(model_dir, engine_args, nullptr, make_oracle);
  if (!running.ok()) return usage_error(running.message());

  std::vector<double> ttft, itl, base_itl;
  // GPU busy time over the measured iterations' wall time: what is left is the device idling
  // between steps (host scheduling, sampling bookkeeping, detokenizing).
  double busy_seconds = 0, wall_seconds = 0;
  EngineStats spec_before, spec_after;  // speculative decoding's counters over the measured runs
  for (int iter = -1; iter < num_iters; ++iter) {
    ThroughputBenchmarkOptions options;
    options.num_prompts = batch_size;
    options.input_len = input_len;
    options.output_len = output_len;
    options.vocab_size = running->config.vocab_size;
    options.seed = static_cast<uint64_t>(iter + 1000);
    options.show_progress = false;
    options.temperature = static_cast<float>(temperature);
    if (speculating) {
      // The base: the same requests without drafts, which also records the oracle's outputs.
      ThroughputBenchmarkOptions base = options;
      base.speculative = false;
      base.keep_tokens = recordings != nullptr;
      auto base_result = run_throughput_benchmark(running->engine.get(), base);
      if (!base_result.ok()) {
        std::fprintf(stderr, "kiln bench latency: %s\n", base_result.message().c_str());
        return 1;
      }
      if (recordings) {
        for (size_t i = 0; i < base_result->prompts.size(); ++i) {
          recordings->record(base_result->prompts[i], base_result->outputs[i]);
        }
      }
      if (iter >= 0) base_itl.push_back(base_result->itl_ms.mean);
      if (iter == 0) spec_before = running->engine->stats();
    }
    const double busy_before = running->executor->device_busy_seconds();
    const double wall_before = monotonic_seconds();
    auto result = run_throughput_benchmark(running->engine.get(), options);
    if (iter >= 0) {
      wall_seconds += monotonic_seconds() - wall_before;
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
      std::fprintf(stderr, "iteration %d: TTFT %.2f ms, ITL %.3f ms", iter + 1, result->ttft_ms.mean,
                   result->itl_ms.mean);
      if (speculating) std::fprintf(stderr, " (without drafts %.3f ms)", base_itl.back());
      std::fprintf(stderr, "\n");
    }
  }
  spec_after = running->engine->stats();
  const double drafts = static_cast<double>(spec_after.spec_decode_num_drafts - spec_before.spec_decode_num_drafts);
  const double drafted = static_cast<double>(spec_after.spec_decode_num_draft_tokens - spec_before.spec_decode_num_draft_tokens);
  const double accepted =
      static_cast<double>(spec_after.spec_decode_num_accepted_tokens - spec_before.spec_decode_num_accepted_tokens);
  const double acceptance_rate = drafted > 0 ? accepted / drafted : 0;
  const double mean_acceptance_length = drafts > 0 ? 1 + accepted / drafts : 1;
  const LatencySummary base_itl_ms = summarize_latencies(base_itl);
  const double speedup = speculating && itl.size() == base_itl.size() ? base_itl_ms.mean / summarize_latencies(itl).mean : 1;
  const LatencySummary ttft_ms = summarize_latencies(ttft);
  const LatencySummary itl_ms = summarize_latencies(itl);
  const double decode_tokens_per_s = 1000.0 / itl_ms.mean;

  // Bytes one decode step reads at the mean context of the run, for the roofline. Under tensor
  // parallelism the plan is a rank's (its shard of the weights, its KV heads) against one GPU's
  // copy bandwidth: the ranks read in parallel, so this is the aggregate roofline.
  const double kv_bytes_per_token =
      static_cast<double>(running->plan.bytes_per_block) / running->plan.block_size;  // the backend's KV dtype
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
                               {"tensor_parallel_size", engine_args.tensor_parallel_size},
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
                               {"device_idle_fraction", device_idle_fraction},
                               {"temperature", temperature}};
    if (speculating) {
      out["speculative"] = {{"method", speculative.method},
                            {"num_speculative_tokens", resolved_speculative.num_speculative_tokens},
                            {"oracle_acceptance_rate", speculative.method == "oracle" ? speculative.oracle_acceptance_rate : -1},
                            {"base_itl_ms", summary(base_itl_ms)},
                            {"base_decode_tokens_per_s_per_seq", 1000.0 / base_itl_ms.mean},
                            {"speedup", speedup},
                            {"acceptance_rate", acceptance_rate},
                            {"mean_acceptance_length", mean_acceptance_length},
                            {"num_drafts", drafts},
                            {"num_draft_tokens", drafted},
                            {"num_accepted_tokens", accepted}};
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  const std::string ranks = engine_args.tensor_parallel_size > 1
                                ? " (tensor parallel over " + std::to_string(engine_args.tensor_parallel_size) + ")"
                                : "";
  std::printf("Latency on %s%s: batch %d, %d prompt + %d output tokens, %d iterations\n", running->device.c_str(),
              ranks.c_str(), batch_size, input_len, output_len, num_iters);
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
  if (speculating) {
    std::printf("Speculative decoding (%s, up to %d drafts): without drafts ITL %.3f ms -> %.1f tokens/s; speed-up "
                "%.2fx; acceptance rate %.1f%% (%.0f of %.0f drafted tokens), mean acceptance length %.2f\n",
                speculative.method.c_str(), resolved_speculative.num_speculative_tokens, base_itl_ms.mean,
                1000.0 / base_itl_ms.mean, speedup, 100 * acceptance_rate, accepted, drafted, mean_acceptance_length);
  }
  return 0;
}

}  // namespace kiln::cli
