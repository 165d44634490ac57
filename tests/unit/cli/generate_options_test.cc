#include "cli/generate_options.h"

#include <gtest/gtest.h>

#include "engine/model_backend.h"
#include "model/memory_plan.h"

namespace kiln::cli {
namespace {

EnvLookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

ModelConfig llama_like() {
  ModelConfig config;
  config.num_hidden_layers = 32;
  config.num_key_value_heads = 8;
  config.head_dim = 128;
  config.max_position_embeddings = 131072;
  return config;
}

TEST(GenerateOptionsTest, OneSequenceNoPrefixCachingByDefault) {
  std::string help;
  auto options = parse_generate_options({"--model", "m", "--prompt", "hi"}, no_env(), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  EXPECT_EQ(options->engine.max_num_seqs, 1);
  EXPECT_FALSE(options->engine.enable_prefix_caching);
  EXPECT_FALSE(options->seed.has_value());
  EXPECT_FALSE(parse_generate_options({"--model", "m", "--prompt", "hi", "--device", "tpu"}, no_env(), &help).ok());
  EXPECT_FALSE(parse_generate_options({"--model", "m"}, no_env(), &help).ok());
}

// The KV cache for one request is counted in blocks, so that it holds prompt + max-tokens on
// either backend. It used to be a byte budget made with the CPU's f32 block size, which the CUDA
// backend (bf16 blocks, half the size) read as twice the blocks.
TEST(GenerateOptionsTest, KvCacheHoldsTheRequestWhateverTheKvDtype) {
  std::string help;
  auto options = parse_generate_options({"--model", "m", "--prompt", "hi", "--max-tokens", "20"}, no_env(), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  const ModelConfig config = llama_like();
  const EngineArgs args = generate_engine_args(*options, /*prompt_len=*/10, config.max_position_embeddings);
  EXPECT_EQ(args.max_model_len, 32);  // 30 rounded up to the block size
  for (DType kv_dtype : {DType::kF32, DType::kBF16}) {
    const auto blocks = requested_kv_blocks(args, kv_bytes_per_block(config, args.block_size, kv_dtype));
    ASSERT_TRUE(blocks.has_value());
    EXPECT_EQ(*blocks, 2) << dtype_name(kv_dtype);
  }

  // --kv-cache-memory stays a byte budget, divided by the backend's own block size.
  options = parse_generate_options({"--model", "m", "--prompt", "hi", "--kv-cache-memory", "64MiB"}, no_env(), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  const EngineArgs budget = generate_engine_args(*options, 10, config.max_position_embeddings);
  EXPECT_FALSE(budget.num_kv_blocks_override.has_value());
  const int64_t bf16_block = kv_bytes_per_block(config, 16, DType::kBF16);
  EXPECT_EQ(requested_kv_blocks(budget, bf16_block), (int64_t{64} << 20) / bf16_block);
}

TEST(GenerateOptionsTest, MaxModelLenDefaultStopsAtTheModelsLimit) {
  std::string help;
  auto options =
      parse_generate_options({"--model", "m", "--prompt", "hi", "--max-tokens", "5000"}, no_env(), &help);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(generate_engine_args(*options, 100, 4096).max_model_len, 4096);
  options = parse_generate_options({"--model", "m", "--prompt", "hi", "--max-model-len", "64"}, no_env(), &help);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(generate_engine_args(*options, 100, 4096).max_model_len, 64);  // given: resolve checks it
}

}  // namespace
}  // namespace kiln::cli
