// `kiln synth`: writes a model directory with random weights (model/synth_model.h).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "base/byte_size.h"
#include "base/file_reading.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/flag_parser.h"
#include "model/model_config.h"
#include "model/synth_eagle3_head.h"
#include "model/synth_model.h"

namespace kiln::cli {

int run_synth_command(const CommandArgs& args) {
  std::string config_path;
  std::string out_dir;
  std::optional<std::string> tokenizer_dir;
  int64_t seed = 0;
  std::string dtype_text = "bf16";
  std::string quantization_text;
  double stddev = 0.02;
  int64_t max_shard_bytes = static_cast<int64_t>(kDefaultMaxShardBytes);
  FlagParser parser("synth",
                    "Write a Hugging Face model directory with deterministic random weights of "
                    "CONFIG.json's shapes, for tests, demos and benchmarks");
  parser.add_string("config", &config_path,
                    "config.json of a LlamaForCausalLM or Qwen2ForCausalLM, or of an EAGLE-3 draft head "
                    "(LlamaForCausalLMEagle3: writes the head's weights and d2t/t2d vocabulary maps) (required)");
  parser.add_string("out", &out_dir, "output directory (created; old weights in it are replaced) (required)");
  parser.add_optional_string("tokenizer", &tokenizer_dir,
                             "directory to copy tokenizer.json, tokenizer_config.json, "
                             "generation_config.json, special_tokens_map.json from");
  parser.add_int64("seed", &seed, "random seed; same seed and config give identical bytes");
  parser.add_string("dtype", &dtype_text, "weight dtype: bf16, f16 or f32 (FP8 checkpoints: of the unquantized tensors)");
  parser.add_string("quantization", &quantization_text,
                    "write an FP8 checkpoint: fp8-dynamic (compressed-tensors, per-channel scales, dynamic per-token "
                    "activations, as the *-FP8-dynamic models) or fp8-block (quant_method fp8, 128x128 blocks, as "
                    "DeepSeek); none drops config.json's quantization_config (default: as config.json says)");
  parser.add_double("std", &stddev, "standard deviation of matrices and biases (norms: 1 + N(0, std))");
  parser.add_int64("max-shard-size", &max_shard_bytes, "split into HF-style shards above this many bytes");

  const Status parsed = parser.parse(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "kiln synth: %s\n", parsed.message().c_str());
    return 2;
  }
  if (parser.help_requested()) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  const auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "kiln synth: %s\n", message.c_str());
    return 2;
  };
  if (config_path.empty()) return usage_error("--config is required");
  if (out_dir.empty()) return usage_error("--out is required");
  const std::optional<DType> dtype = parse_dtype(dtype_text);
  if (!dtype || *dtype == DType::kF8E4M3) {
    return usage_error("--dtype must be bf16, f16 or f32, got '" + dtype_text + "'");
  }
  if (!(stddev >= 0)) return usage_error("--std must be >= 0");
  std::optional<SynthQuantization> quantization = SynthQuantization::kAsConfig;
  if (!quantization_text.empty()) {
    quantization = parse_synth_quantization(quantization_text);
    if (!quantization) {
      return usage_error("--quantization must be fp8-dynamic, fp8-block or none, got '" + quantization_text + "'");
    }
  }
  if (max_shard_bytes <= 0) return usage_error("--max-shard-size must be positive");
  if (const Result<std::string> text = read_regular_file(config_path); text.ok() && is_eagle3_head_config(*text)) {
    if (tokenizer_dir || !quantization_text.empty()) {
      return usage_error("--tokenizer and --quantization do not apply to an EAGLE-3 head (" + config_path + ")");
    }
    if (const auto head_config = load_eagle3_head_config_alone(config_path); !head_config.ok()) {
      return usage_error(head_config.message());
    }
    SynthEagle3HeadOptions head;
    head.config_path = config_path;
    head.out_dir = out_dir;
    head.seed = static_cast<uint64_t>(seed);
    head.dtype = *dtype;
    head.stddev = stddev;
    const Result<SynthEagle3HeadReport> report = synth_eagle3_head(head);
    if (!report.ok()) {
      std::fprintf(stderr, "kiln synth: %s\n", report.message().c_str());
      return 1;
    }
    KILN_LOG(Info) << "Wrote " << out_dir << ": EAGLE-3 head, " << format_bytes(static_cast<int64_t>(report->weight_bytes))
                   << " of " << dtype_name(*dtype) << " weights in " << report->seconds << " s";
    return 0;
  }
  // Config and tokenizer problems are the user's input: exit 2 before any work starts.
  const Result<ModelConfig> config = load_model_config(config_path);
  if (!config.ok()) return usage_error(config.message());
  std::error_code error;
  if (tokenizer_dir && !std::filesystem::is_directory(*tokenizer_dir, error)) {
    return usage_error("--tokenizer " + *tokenizer_dir + ": no such directory");
  }

  SynthOptions options;
  options.config_path = config_path;
  options.out_dir = out_dir;
  if (tokenizer_dir) options.tokenizer_dir = *tokenizer_dir;
  options.seed = static_cast<uint64_t>(seed);
  options.dtype = *dtype;
  options.quantization = *quantization;
  options.stddev = stddev;
  options.max_shard_bytes = static_cast<uint64_t>(max_shard_bytes);
  const Result<SynthReport> report = synth_model(options);
  if (!report.ok()) {
    std::fprintf(stderr, "kiln synth: %s\n", report.message().c_str());
    return 1;
  }
  char timing[64];
  std::snprintf(timing, sizeof(timing), "%.2f s (%.2f GB/s)", report->seconds,
                static_cast<double>(report->weight_bytes) / 1e9 / std::max(report->seconds, 1e-9));
  KILN_LOG(Info) << "Wrote " << out_dir << ": " << config->architecture_name << ", "
                 << format_bytes(static_cast<int64_t>(report->weight_bytes)) << " of "
                 << (options.quantization == SynthQuantization::kFp8Dynamic ? "fp8-dynamic"
                     : options.quantization == SynthQuantization::kFp8Block ? "fp8-block"
                                                                            : std::string(dtype_name(*dtype)))
                 << " weights in " << report->num_files << " file"
                 << (report->num_files == 1 ? "" : "s") << ", " << timing;
  return 0;
}

}  // namespace kiln::cli
