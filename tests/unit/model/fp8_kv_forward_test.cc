// The CPU model over an FP8 KV cache against the double-precision reference whose keys (after
// RoPE) and values are rounded to E4M3 with the same scales: the only difference FP8 makes is
// that rounding, so the two agree as closely as the f32 cache agrees with the unrounded reference.
// Chunked prefill over the FP8 cache reads back exactly what a full prefill wrote.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/cpu_model.h"
#include "tensor/dtype.h"
#include "test_model.h"

namespace kiln {
namespace {

using testing::make_batch;
using testing::make_test_model;
using testing::SeqStep;
using testing::TestModelSpec;

constexpr int kBlockSize = 4;

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int32_t& t : tokens) t = dist(rng);
  return tokens;
}

// Logits of every position, computed in steps of `chunks` tokens over an FP8 cache.
std::vector<float> run_fp8(const testing::TestModel& m, const std::vector<int32_t>& tokens, const std::vector<int>& chunks,
                           const std::vector<float>& scales) {
  CpuModelOptions options;
  options.num_blocks = 64;
  options.block_size = kBlockSize;
  options.num_threads = 2;
  options.kv_cache_dtype = DType::kF8E4M3;
  options.kv_scales = scales;
  auto model = CpuModel::create(m.config, m.weights, options);
  EXPECT_TRUE(model.ok()) << model.message();
  std::vector<int32_t> blocks;
  for (int i = 0; i < (static_cast<int>(tokens.size()) + kBlockSize - 1) / kBlockSize; ++i) blocks.push_back(3 * i + 1);
  std::vector<float> all;
  int done = 0;
  for (int chunk : chunks) {
    SeqStep step{std::vector<int32_t>(tokens.begin(), tokens.begin() + done + chunk), chunk, blocks, true};
    std::vector<float> logits;
    const Status status = (*model)->forward(make_batch({step}, kBlockSize), &logits);
    EXPECT_TRUE(status.ok()) << status.message();
    all.insert(all.end(), logits.begin(), logits.end());
    done += chunk;
  }
  return all;
}

TEST(Fp8KvForwardTest, MatchesTheReferenceWithRoundedKeysAndValues) {
  for (const int head_dim : {16, 64}) {
    TestModelSpec spec;
    spec.head_dim = head_dim;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.seed = 21 + head_dim;
    const auto m = make_test_model(spec);
    const int layers = m->config.num_hidden_layers;
    std::vector<float> scales;
    for (int l = 0; l < layers; ++l) scales.push_back(0.04f + 0.01f * l), scales.push_back(0.05f - 0.01f * l);
    const std::vector<int32_t> tokens = random_tokens(29, m->config.vocab_size, 5);
    // The reference rounds each key and value as the cache write does: fp8(float(x) / scale) x scale.
    const auto round_kv = [&](std::vector<double>* k, std::vector<double>* v, int layer) {
      for (double& x : *k) x = fp8_e4m3_to_f32(f32_to_fp8_e4m3(static_cast<float>(x) / scales[2 * layer])) * scales[2 * layer];
      for (double& x : *v) {
        x = fp8_e4m3_to_f32(f32_to_fp8_e4m3(static_cast<float>(x) / scales[2 * layer + 1])) * scales[2 * layer + 1];
      }
    };
    const std::vector<double> rounded = testing::reference_logits(*m, tokens, {}, round_kv);
    const std::vector<double> exact = testing::reference_logits(*m, tokens);
    const std::vector<float> ours = run_fp8(*m, tokens, {29}, scales);
    ASSERT_EQ(ours.size(), rounded.size());
    double worst = 0, worst_vs_exact = 0;
    for (size_t i = 0; i < rounded.size(); ++i) {
      worst = std::max(worst, std::abs(ours[i] - rounded[i]));
      worst_vs_exact = std::max(worst_vs_exact, std::abs(ours[i] - exact[i]));
    }
    EXPECT_LT(worst, 1e-3) << "head_dim " << head_dim;
    // FP8 does round: without rounding K and V the reference is visibly elsewhere.
    EXPECT_GT(worst_vs_exact, 10 * worst) << "head_dim " << head_dim;
    // Chunked prefill reads back the codes a whole prefill wrote: the same logits.
    EXPECT_EQ(run_fp8(*m, tokens, {7, 1, 13, 8}, scales), ours) << "head_dim " << head_dim;
  }
}

}  // namespace
}  // namespace kiln
