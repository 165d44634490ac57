// `kiln serve`'s flags, with vLLM's names and defaults, and the environment it reads
// (KILN_API_KEY, VLLM_API_KEY). Parsing is separate from running so that it is unit-tested.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/env_lookup.h"
#include "base/status.h"
#include "cli/commands.h"

namespace kiln {

struct ServeOptions {
  std::string model;  // model directory or Hugging Face repo id (positional, as `vllm serve MODEL`, or --model)
  std::string host = "0.0.0.0";
  int port = 8000;
  std::optional<std::string> served_model_name;  // default: the model argument
  std::optional<int> max_model_len;              // default: config.json's max_position_embeddings
  int max_num_seqs = 256;
  std::optional<int> max_num_batched_tokens;
  int block_size = 16;
  double gpu_memory_utilization = 0.9;
  std::optional<std::string> kv_cache_memory;    // bytes, e.g. "4GiB"; overrides the utilization plan
  bool enable_prefix_caching = true;
  bool enforce_eager = false;
  std::string dtype = "auto";          // normalized: auto, bfloat16, float16 or float32
  std::optional<int64_t> seed;         // unset: requests without a seed sample randomly
  std::string generation_config = "auto";        // "auto", "vllm" or a folder
  std::optional<std::string> chat_template;      // a file path or the template text itself
  int tensor_parallel_size = 1;
  std::optional<std::string> api_key;
  std::string reasoning_parser = "auto";         // "auto": deepseek_r1 for DeepSeek-R1 models
  std::vector<std::string> allowed_origins = {"*"};
  int64_t max_request_bytes = 32 << 20;
  double drain_timeout_s = 30;
  std::string device = "auto";  // auto: cuda when a GPU is visible, else cpu
  std::optional<std::string> gpu_memory_limit;  // test-only cap on the GPU's memory, e.g. "24GiB"
  int num_threads = 0;  // CPU backend threads; 0: all cores
  int max_logprobs = 20;
  bool enable_prompt_tokens_details = false;
  int http_threads = 4;
  // Test only, from the environment (KILN_TEST_FAIL_AT_POSITION, unset by default): the backend
  // fails every step that computes a token at or past this position, as a device fault would.
  std::optional<int> test_fail_at_position;
};


// Parses and validates; on --help returns nullopt-free options with *help_text set.
Result<ServeOptions> parse_serve_options(const CommandArgs& args, const EnvLookup& env, std::string* help_text);

// --dtype's value in vLLM's spellings (auto, bfloat16, float16/half, float32/float; bf16 too),
// normalized to auto, bfloat16, float16 or float32.
Result<std::string> normalize_dtype(const std::string& value);

// Whether the backend on `device` ("cpu" or "cuda") can run --dtype `dtype` (normalized): CUDA
// computes in bfloat16 only, so float16 and float32 are refused there; the CPU backend computes
// in float32 whatever the flag says (the caller logs that).
Status check_dtype_for_device(const std::string& dtype, const std::string& device);

// "deepseek_r1" or "none" for reasoning_parser "auto" and the model's name or path.
std::string resolve_reasoning_parser(const std::string& flag, const std::string& model_name);

// --chat-template: a readable file's contents, else the text itself (vLLM's rule).
Result<std::string> load_chat_template_flag(const std::string& value);

}  // namespace kiln
