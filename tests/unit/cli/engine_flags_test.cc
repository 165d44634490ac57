#include "cli/engine_flags.h"

#include <gtest/gtest.h>

#include <map>

#include "cli/flag_parser.h"

namespace kiln::cli {
namespace {

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(EngineFlagsTest, EveryEngineFlagFillsEngineArgs) {
  EngineArgs args;
  FlagParser parser("test", "test");
  add_engine_flags(parser, &args);
  ASSERT_TRUE(parser
                  .parse({"--max-model-len", "4096", "--max-num-seqs", "8", "--max-num-batched-tokens", "1024",
                          "--block-size", "32", "--gpu-memory-utilization", "0.5", "--kv-cache-memory", "1GiB",
                          "--no-enable-prefix-caching", "--enforce-eager", "--dtype", "bf16", "--generation-config",
                          "vllm", "--tensor-parallel-size", "1", "--device", "cpu", "--gpu-memory-limit", "24GiB",
                          "--num-threads", "3", "--profile-steps", "10", "--quantization", "fp8"})
                  .ok());
  EXPECT_EQ(args.max_model_len, 4096);
  EXPECT_EQ(args.max_num_seqs, 8);
  EXPECT_EQ(args.max_num_batched_tokens, 1024);
  EXPECT_EQ(args.block_size, 32);
  EXPECT_DOUBLE_EQ(args.gpu_memory_utilization, 0.5);
  EXPECT_EQ(args.kv_cache_memory_bytes, int64_t{1} << 30);
  EXPECT_FALSE(args.enable_prefix_caching);
  EXPECT_TRUE(args.enforce_eager);
  EXPECT_EQ(args.dtype, "bfloat16");
  EXPECT_EQ(args.generation_config, "vllm");
  EXPECT_EQ(args.device, "cpu");
  EXPECT_EQ(args.gpu_memory_limit_bytes, int64_t{24} << 30);
  EXPECT_EQ(args.num_threads, 3);
  EXPECT_EQ(args.profile_every_n_steps, 10);
  EXPECT_EQ(args.quantization, "fp8");
  EXPECT_TRUE(validate_engine_args(args).ok());
}

TEST(EngineFlagsTest, CommandDefaultsShowInTheHelp) {
  EngineArgs args;
  args.max_num_batched_tokens = 2048;
  args.enable_prefix_caching = false;
  FlagParser parser("bench", "bench");
  add_engine_flags(parser, &args);
  const std::string help = parser.help_text();
  EXPECT_NE(help.find("maximum tokens in one engine step (default: chosen from max-model-len) (default: 2048)"),
            std::string::npos);
  EXPECT_NE(help.find("reuse KV blocks of shared prompt prefixes (default: off)"), std::string::npos);
  ASSERT_TRUE(parser.parse({}).ok());
  EXPECT_EQ(args.max_num_batched_tokens, 2048);
}

TEST(EngineFlagsTest, EnvironmentReachesTheEngineOnlyThroughTheArgs) {
  EngineArgs args;
  ASSERT_TRUE(read_engine_environment(env_of({}), &args).ok());
  EXPECT_TRUE(args.cuda_programmatic_dependent_launch);
  EXPECT_FALSE(args.test_fail_at_position.has_value());
  ASSERT_TRUE(read_engine_environment(env_of({{"KILN_CUDA_PDL", "0"}, {"KILN_TEST_FAIL_AT_POSITION", "7"}}), &args).ok());
  EXPECT_FALSE(args.cuda_programmatic_dependent_launch);
  EXPECT_EQ(args.test_fail_at_position, 7);
  ASSERT_TRUE(read_engine_environment(env_of({{"KILN_CUDA_PDL", "1"}}), &args).ok());
  EXPECT_TRUE(args.cuda_programmatic_dependent_launch);
  EXPECT_FALSE(args.fp8_weight_only);
  ASSERT_TRUE(read_engine_environment(env_of({{"KILN_FP8_WEIGHT_ONLY", "1"}}), &args).ok());
  EXPECT_TRUE(args.fp8_weight_only);
  const Status bad_fp8 = read_engine_environment(env_of({{"KILN_FP8_WEIGHT_ONLY", "yes"}}), &args);
  ASSERT_FALSE(bad_fp8.ok());
  EXPECT_NE(bad_fp8.message().find("KILN_FP8_WEIGHT_ONLY must be 0 or 1"), std::string::npos);
  EXPECT_FALSE(args.cuda_tensor_parallel);
  ASSERT_TRUE(read_engine_environment(env_of({{"KILN_CUDA_TENSOR_PARALLEL", "1"}}), &args).ok());
  EXPECT_TRUE(args.cuda_tensor_parallel);
  EXPECT_FALSE(args.cuda_decode_attention_mma);
  ASSERT_TRUE(read_engine_environment(env_of({{"KILN_CUDA_DECODE_ATTENTION_MMA", "1"}}), &args).ok());
  EXPECT_TRUE(args.cuda_decode_attention_mma);
  EXPECT_FALSE(args.cuda_spec_trees);
  ASSERT_TRUE(read_engine_environment(env_of({{"KILN_CUDA_SPEC_TREES", "1"}}), &args).ok());
  EXPECT_TRUE(args.cuda_spec_trees);
  const Status bad = read_engine_environment(env_of({{"KILN_CUDA_PDL", "maybe"}}), &args);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("KILN_CUDA_PDL"), std::string::npos);
}

TEST(EngineFlagsTest, DtypeSpellings) {
  EXPECT_EQ(*normalize_dtype("BF16"), "bfloat16");
  EXPECT_EQ(*normalize_dtype("half"), "float16");
  EXPECT_EQ(*normalize_dtype("float"), "float32");
  EXPECT_FALSE(normalize_dtype("int4").ok());
}

}  // namespace
}  // namespace kiln::cli
