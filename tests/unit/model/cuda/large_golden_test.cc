// The full-size model (DeepSeek-R1-Distill-Llama-8B's shape with kiln synth weights) on the GPU
// against HF transformers in bf16 on the same GPU. Random weights make most next-token
// distributions nearly flat, so many positions are near-ties that any two bf16 implementations
// resolve differently: agreement is required (>= 99%) where HF's top-1 leads its runner-up by
// more than kClearMargin, and reported over all positions, with the logprob differences. Runs only when the GPU
// machine's run sets KILN_LARGE_GOLDEN_MODEL (the synth folder) and KILN_LARGE_GOLDEN_REFERENCE
// (tools/golden/make_large_bf16_reference.py's output): the model is 16 GB, never in CI.
// FP8 runs set KILN_LARGE_GOLDEN_QUANTIZATION=fp8 (online FP8 of a bf16 model; FP8 checkpoints
// need nothing), KILN_LARGE_GOLDEN_FP8_WEIGHT_ONLY=1 (the W8A16 path), and
// KILN_LARGE_GOLDEN_MIN_AGREEMENT (default 0.99; 0 only reports, e.g. FP8 against a bf16
// reference); KILN_LARGE_GOLDEN_LABEL names the run in the printed lines.
// The FP8 KV cache test compares the same model with its cache in FP8 (scales calculated from the
// prompts) against HF bf16 and against kiln's bf16 cache, and reports both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cuda_test_util.h"
#include "golden_fixture.h"
#include "model/cuda/cuda_model.h"
#include "model/model_loader.h"
#include "test_model.h"

namespace kiln::cuda {
namespace {

constexpr double kClearMargin = 0.1;

struct LargeGolden {
  nlohmann::json reference;
  std::unique_ptr<LoadedModel> model;
  ForwardBatch batch;
  int num_blocks = 0;
  bool fp8_weight_only = false;  // KILN_LARGE_GOLDEN_FP8_WEIGHT_ONLY=1
  double min_agreement = 0.99;   // KILN_LARGE_GOLDEN_MIN_AGREEMENT
  std::string label;             // KILN_LARGE_GOLDEN_LABEL, with ": "
};

// The reference and the model the GPU machine's run names, or nothing (the test skips).
std::optional<LargeGolden> load_large_golden() {
  const char* model_dir = std::getenv("KILN_LARGE_GOLDEN_MODEL");
  const char* reference_path = std::getenv("KILN_LARGE_GOLDEN_REFERENCE");
  if (!model_dir || !reference_path) return std::nullopt;
  LargeGolden golden;
  std::ifstream in(reference_path);
  EXPECT_TRUE(in) << reference_path;
  golden.reference = nlohmann::json::parse(in);
  const char* quantization = std::getenv("KILN_LARGE_GOLDEN_QUANTIZATION");
  const char* weight_only = std::getenv("KILN_LARGE_GOLDEN_FP8_WEIGHT_ONLY");
  const char* min_agreement = std::getenv("KILN_LARGE_GOLDEN_MIN_AGREEMENT");
  const char* label = std::getenv("KILN_LARGE_GOLDEN_LABEL");
  golden.fp8_weight_only = weight_only && std::string(weight_only) == "1";
  if (min_agreement) golden.min_agreement = std::atof(min_agreement);
  if (label) golden.label = std::string(label) + ": ";
  LoadOptions load_options;
  if (quantization) load_options.quantization = quantization;
  auto loaded = load_model(model_dir, load_options);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  if (!loaded.ok()) return std::nullopt;
  golden.model = std::move(loaded).value();
  std::vector<kiln::testing::SeqStep> seqs;
  for (const auto& prompt : golden.reference.at("prompts")) {
    kiln::testing::SeqStep seq;
    seq.tokens = prompt.at("ids").get<std::vector<int32_t>>();
    seq.num_new = static_cast<int>(seq.tokens.size());
    seq.all_logits = true;
    for (int b = 0; b < (seq.num_new + 15) / 16; ++b) seq.blocks.push_back(golden.num_blocks++);
    seqs.push_back(seq);
  }
  golden.batch = kiln::testing::make_batch(seqs, 16);
  return golden;
}

// Every prompt position's logits with the cache in `kv_cache_dtype` (FP8: scales calculated from
// the prompts, as --calculate-kv-scales does on a first batch).
std::vector<float> large_golden_logits(const LargeGolden& golden, DType kv_cache_dtype) {
  CudaModelOptions options;
  options.max_num_batched_tokens = golden.batch.num_tokens();
  options.max_num_seqs = golden.batch.num_seqs();
  options.max_model_len = 1024;
  options.num_blocks = golden.num_blocks;
  options.kv_cache_dtype = kv_cache_dtype;
  options.calculate_kv_scales = kv_cache_dtype == DType::kF8E4M3;
  options.fp8_weight_only = golden.fp8_weight_only;
  auto model = CudaModel::create(golden.model->config, golden.model->weights, options);
  EXPECT_TRUE(model.ok()) << model.message();
  std::vector<float> logits;
  if (!model.ok()) return logits;
  // The first launched step calculates the scales; forward() would not.
  std::vector<float> other;
  std::vector<SampledRow> sampled;
  EXPECT_TRUE((*model)->forward_sampled(golden.batch, {}, {}, &other, &sampled).ok());
  return other;
}

struct Agreement {
  int rows = 0, agree = 0, clear = 0, clear_agree = 0;
  double sum_diff = 0, worst_diff = 0;
};

// kiln's logits against the reference's top-1 (and its logprob) per position.
Agreement compare_with_reference(const nlohmann::json& reference, const std::vector<float>& logits, size_t vocab) {
  Agreement a;
  size_t row = 0;
  for (const auto& prompt : reference.at("prompts")) {
    const auto top1 = prompt.at("top1").get<std::vector<int>>();
    const auto top1_logprob = prompt.at("top1_logprob").get<std::vector<double>>();
    const auto top2_logprob = prompt.at("top2_logprob").get<std::vector<double>>();
    for (size_t p = 0; p < top1.size(); ++p, ++row) {
      const float* l = logits.data() + row * vocab;
      const bool same = std::max_element(l, l + vocab) - l == top1[p];
      ++a.rows;
      a.agree += same;
      if (top1_logprob[p] - top2_logprob[p] > kClearMargin) {
        ++a.clear;
        a.clear_agree += same;
      }
      const std::vector<double> logprobs = kiln::testing::log_softmax_row(l, vocab);
      const double diff = std::abs(logprobs[static_cast<size_t>(top1[p])] - top1_logprob[p]);
      a.worst_diff = std::max(a.worst_diff, diff);
      a.sum_diff += diff;
    }
  }
  return a;
}

TEST(LargeGoldenTest, AgreesWithHfBf16OnTopTokens) {
  KILN_SKIP_WITHOUT_GPU();
  std::optional<LargeGolden> golden = load_large_golden();
  if (!golden) GTEST_SKIP() << "set KILN_LARGE_GOLDEN_MODEL and KILN_LARGE_GOLDEN_REFERENCE (GPU machine only)";
  const size_t vocab = static_cast<size_t>(golden->model->config.vocab_size);
  const std::vector<float> logits = large_golden_logits(*golden, DType::kBF16);
  ASSERT_FALSE(logits.empty());
  const Agreement a = compare_with_reference(golden->reference, logits, vocab);
  std::printf("large golden: %s%d positions, top-1 agreement %.4f overall, %.4f over the %d with HF margin > %.1f; "
              "|logprob(HF top-1) - HF| mean %.4f worst %.4f\n",
              golden->label.c_str(), a.rows, static_cast<double>(a.agree) / a.rows, a.clear ? static_cast<double>(a.clear_agree) / a.clear : 1.0,
              a.clear, kClearMargin, a.sum_diff / a.rows, a.worst_diff);
  int fp32_rows = 0, fp32_agree = 0;  // against HF float32, when the reference has it
  size_t row = 0;
  for (const auto& prompt : golden->reference.at("prompts")) {
    const auto fp32_top1 = prompt.contains("fp32_top1") ? prompt.at("fp32_top1").get<std::vector<int>>()
                                                        : std::vector<int>{};
    const size_t positions = prompt.at("top1").size();
    for (size_t p = 0; p < positions; ++p, ++row) {
      if (p >= fp32_top1.size()) continue;
      const float* l = logits.data() + row * vocab;
      ++fp32_rows;
      fp32_agree += std::max_element(l, l + vocab) - l == fp32_top1[p];
    }
  }
  if (fp32_rows > 0) {
    std::printf("large golden: %skiln vs HF float32 top-1 agreement %.4f over %d positions\n", golden->label.c_str(),
                static_cast<double>(fp32_agree) / fp32_rows, fp32_rows);
  }
  EXPECT_GE(a.clear ? static_cast<double>(a.clear_agree) / a.clear : 1.0, golden->min_agreement);
}

TEST(LargeGoldenTest, Fp8KvCacheStaysNearKilnBf16) {
  KILN_SKIP_WITHOUT_GPU();
  std::optional<LargeGolden> golden = load_large_golden();
  if (!golden) GTEST_SKIP() << "set KILN_LARGE_GOLDEN_MODEL and KILN_LARGE_GOLDEN_REFERENCE (GPU machine only)";
  const size_t vocab = static_cast<size_t>(golden->model->config.vocab_size);
  const std::vector<float> bf16 = large_golden_logits(*golden, DType::kBF16);
  const std::vector<float> fp8 = large_golden_logits(*golden, DType::kF8E4M3);
  ASSERT_EQ(bf16.size(), fp8.size());
  ASSERT_FALSE(fp8.empty());
  const Agreement hf = compare_with_reference(golden->reference, fp8, vocab);
  // Against kiln's bf16 cache: the same comparison with kiln bf16's top-1 as the reference.
  nlohmann::json kiln_reference = golden->reference;
  size_t row = 0;
  for (auto& prompt : kiln_reference.at("prompts")) {
    std::vector<int> top1;
    std::vector<double> top1_logprob, top2_logprob;
    const size_t positions = prompt.at("top1").size();
    for (size_t p = 0; p < positions; ++p, ++row) {
      const std::vector<double> logprobs = kiln::testing::log_softmax_row(bf16.data() + row * vocab, vocab);
      std::vector<size_t> order(vocab);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + 2, order.end(),
                        [&](size_t x, size_t y) { return logprobs[x] > logprobs[y]; });
      top1.push_back(static_cast<int>(order[0]));
      top1_logprob.push_back(logprobs[order[0]]);
      top2_logprob.push_back(logprobs[order[1]]);
    }
    prompt["top1"] = top1;
    prompt["top1_logprob"] = top1_logprob;
    prompt["top2_logprob"] = top2_logprob;
  }
  const Agreement kiln_bf16 = compare_with_reference(kiln_reference, fp8, vocab);
  for (const auto& [what, a] : {std::pair<const char*, const Agreement&>{"HF bf16", hf}, {"kiln bf16 cache", kiln_bf16}}) {
    std::printf("large golden: %sFP8 KV cache (calculated scales) vs %s: top-1 agreement %.4f overall, %.4f over "
                "the %d clear positions; |dlogprob| mean %.4f worst %.4f\n",
                golden->label.c_str(), what, static_cast<double>(a.agree) / a.rows, a.clear ? static_cast<double>(a.clear_agree) / a.clear : 1.0,
                a.clear, a.sum_diff / a.rows, a.worst_diff);
  }
  // Random weights make the 8B shape chaotic: bf16 rounding alone (2^-9) flips 4.6% of the clear
  // positions between HF bf16 and HF float32, and E4M3's step (2^-4 relative) in every cached key
  // and value moves the logits by ~0.4 (measured on an H100, 2026-12-07: 41.6% top-1 agreement
  // with kiln's bf16 cache, mean |dlogprob| 0.399). So this run bounds gross errors only (a wrong
  // scale or layer gives ~0% and |dlogprob| > 1); the FP8 cache's precision is checked where it
  // is measurable: the kernels against their twins, and the tiny goldens (CudaFp8KvGoldenTest).
  EXPECT_GE(static_cast<double>(kiln_bf16.agree) / kiln_bf16.rows, 0.3);
  EXPECT_LT(kiln_bf16.sum_diff / kiln_bf16.rows, 0.6);
}

}  // namespace
}  // namespace kiln::cuda
