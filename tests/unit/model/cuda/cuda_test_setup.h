// What the CUDA model and engine tests set up alike: the small bf16 Llama they run, and the CUDA
// model, executor and engine configuration of the engine tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "engine/cuda/cuda_model_executor.h"
#include "engine/engine.h"
#include "model/cuda/cuda_model.h"
#include "test_model.h"

namespace kiln::testing {

inline constexpr int kSmallLlamaVocab = 1000;

// 2 layers, hidden 256 (intermediate 512), 4 heads of 128 sharing 2 KV heads, a vocabulary of
// 1000, bf16 weights from `seed`. A test that needs another shape changes the fields it names.
inline TestModelSpec small_bf16_llama(uint32_t seed) {
  TestModelSpec spec;
  spec.hidden = 256;
  spec.intermediate = 512;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.head_dim = 128;
  spec.vocab = kSmallLlamaVocab;
  spec.dtype = DType::kBF16;
  spec.seed = seed;
  return spec;
}

// The CUDA model of the engine tests: up to 8 sequences of 256 tokens.
inline cuda::CudaModelOptions engine_model_options(int num_blocks = 128, int max_num_batched_tokens = 256) {
  cuda::CudaModelOptions options;
  options.max_num_batched_tokens = max_num_batched_tokens;
  options.max_num_seqs = 8;
  options.max_model_len = 256;
  options.num_blocks = num_blocks;
  return options;
}

// An engine configuration with the sizes of `options` (from engine_model_options), and no stats log.
inline EngineConfig engine_config_for(const cuda::CudaModelOptions& options, bool async_scheduling) {
  EngineConfig config;
  config.scheduler = {options.max_num_batched_tokens, options.max_num_seqs, options.max_model_len};
  config.num_blocks = options.num_blocks.value();
  config.stats_log_interval_s = 0;
  config.async_scheduling = async_scheduling;
  return config;
}

// The CUDA executor over `model` (a test failure when the CUDA model cannot be made).
inline std::unique_ptr<CudaModelExecutor> make_cuda_executor(const TestModel& model, const cuda::CudaModelOptions& options) {
  auto created = cuda::CudaModel::create(model.config, model.weights, options);
  EXPECT_TRUE(created.ok()) << created.message();
  return std::make_unique<CudaModelExecutor>(std::move(created).value());
}

}  // namespace kiln::testing
