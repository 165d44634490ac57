// The CUDA model on FP8 weights (synthesized checkpoints of each format, online FP8 of a bf16
// checkpoint, the weight-only path forced on Hopper) against the CPU backend on the same weights,
// whose FP8 numerics the CPU tests tie to a double reference (bounds in AgreesWithTheCpuBackend's
// comment). Also: FP8 decode rows are independent of the batch, the weights
// take about half the memory, and unsupported fused layouts are refused with the tensor's name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cuda_test_util.h"
#include "golden_fixture.h"
#include "model/cpu_model.h"
#include "model/cuda/cuda_model.h"
#include "model/model_loader.h"
#include "model/synth_model.h"
#include "test_model.h"

namespace kiln::cuda {
namespace {

namespace fs = std::filesystem;
using kiln::testing::make_batch;
using kiln::testing::SeqStep;

std::unique_ptr<LoadedModel> synth(const std::string& config, SynthQuantization format, const std::string& flag,
                                   const std::string& name) {
  const fs::path dir = fs::path(KILN_BINARY_DIR) / "fp8-models-cuda" / name;
  fs::remove_all(dir);
  SynthOptions options;
  options.config_path = kiln::testing::golden_model_dir() / "configs" / (config + ".json");
  options.out_dir = dir;
  options.seed = 21;
  options.stddev = 0.1;
  options.quantization = format;
  options.show_progress = false;
  const auto report = synth_model(options);
  EXPECT_TRUE(report.ok()) << report.message();
  LoadOptions load;
  load.prefault = false;
  load.show_progress = false;
  load.quantization = flag;
  auto loaded = load_model(dir, load);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  return std::move(loaded).value();
}

// Three prompts of 1, 37 and 150 tokens with logits at every position.
ForwardBatch prompts(int vocab, int* num_blocks) {
  std::vector<SeqStep> seqs;
  int next_block = 0;
  for (const int length : {1, 37, 150}) {
    SeqStep seq;
    for (int i = 0; i < length; ++i) seq.tokens.push_back((i * 131 + length * 7) % vocab);
    seq.num_new = length;
    seq.all_logits = true;
    for (int b = 0; b < (length + 15) / 16; ++b) seq.blocks.push_back(next_block++);
    seqs.push_back(seq);
  }
  *num_blocks = next_block;
  return make_batch(seqs, 16);
}

CudaModelOptions options_for(const ForwardBatch& batch, int num_blocks) {
  CudaModelOptions options;
  options.max_num_batched_tokens = batch.num_tokens();
  options.max_num_seqs = 8;
  options.max_model_len = 1024;
  options.num_blocks = num_blocks;
  return options;
}

struct Fp8ModelCase {
  const char* name;
  const char* config;
  SynthQuantization format;
  const char* flag;
};

// How far one model's logprobs are from a reference's: greedy agreement where the reference's
// choice is clear (top-2 margin > 0.1) and the logprob of the reference's top token.
struct LogprobDistance {
  double agreement = 1.0;
  int clear = 0;
  double mean = 0;
  double worst = 0;
};

LogprobDistance distance(const std::vector<float>& reference, const std::vector<float>& actual, size_t vocab) {
  LogprobDistance d;
  const size_t rows = reference.size() / vocab;
  int agree = 0;
  for (size_t row = 0; row < rows; ++row) {
    const std::vector<double> expected = kiln::testing::log_softmax_row(reference.data() + row * vocab, vocab);
    const std::vector<double> got = kiln::testing::log_softmax_row(actual.data() + row * vocab, vocab);
    std::vector<double> sorted = expected;
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
    const size_t best = static_cast<size_t>(std::max_element(expected.begin(), expected.end()) - expected.begin());
    const double diff = std::abs(got[best] - expected[best]);
    d.mean += diff / static_cast<double>(rows);
    d.worst = std::max(d.worst, diff);
    if (sorted[0] - sorted[1] > 0.1) {
      ++d.clear;
      agree += static_cast<size_t>(std::max_element(got.begin(), got.end()) - got.begin()) == best;
    }
  }
  if (d.clear) d.agreement = static_cast<double>(agree) / d.clear;
  return d;
}

std::string describe(const LogprobDistance& d) {
  char text[160];
  std::snprintf(text, sizeof(text), "agreement %.4f over %d clear positions, |dlogprob| mean %.4f worst %.4f",
                d.agreement, d.clear, d.mean, d.worst);
  return text;
}

class Fp8CudaModel : public ::testing::TestWithParam<Fp8ModelCase> {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

// Four runs on the same weights and prompts: the CPU and the GPU, each with FP8 activations (W8A8)
// and without (W8A16, the GPU's weight-only path forced on Hopper).
// - Weight-only, the GPU differs from the CPU by its bf16 activations only: the bf16 model's bounds.
// - W8A8 cannot be held that close. Where a bf16 activation and its f32 twin straddle a rounding
//   boundary of E4M3 (3 mantissa bits), the code differs by one step (6-12%); on these random
//   2-3 layer models such flips move the logits about as far as activation quantization itself
//   (an H100 measured CUDA-vs-CPU W8A8 |dlogprob| 0.17-0.21 where CPU W8A8-vs-W8A16 was
//   0.17-0.24). So W8A8 is held relative to the CPU's own quantization effect: the GPU's
//   quantization must move its logits by about as much as the CPU's does (a wrong scale, group or
//   layout moves them far more, or not at all), and the GPU must stay within that distance of the
//   CPU's W8A8 logits.
TEST_P(Fp8CudaModel, AgreesWithTheCpuBackend) {
  const Fp8ModelCase& param = GetParam();
  const auto loaded = synth(param.config, param.format, param.flag, param.name);
  const ModelConfig& config = loaded->config;
  ASSERT_TRUE(config.quantization.enabled());
  ASSERT_NE(config.quantization.activation, ActivationScheme::kNone);
  int num_blocks = 0;
  const ForwardBatch batch = prompts(config.vocab_size, &num_blocks);
  const size_t vocab = static_cast<size_t>(config.vocab_size);

  const auto run_cpu = [&](bool weight_only) {
    CpuModelOptions options;
    options.num_blocks = num_blocks;
    options.block_size = 16;
    ModelConfig cpu_config = config;
    if (weight_only) cpu_config.quantization.activation = ActivationScheme::kNone;
    auto model = CpuModel::create(cpu_config, loaded->weights, options);
    EXPECT_TRUE(model.ok()) << model.message();
    std::vector<float> logits;
    if (model.ok()) {
      EXPECT_TRUE((*model)->forward(batch, &logits).ok());
    }
    return logits;
  };
  const auto run_gpu = [&](bool weight_only) {
    CudaModelOptions options = options_for(batch, num_blocks);
    options.fp8_weight_only = weight_only;
    auto model = CudaModel::create(config, loaded->weights, options);
    EXPECT_TRUE(model.ok()) << model.message();
    std::vector<float> logits;
    if (model.ok()) {
      EXPECT_TRUE((*model)->forward(batch, &logits).ok());
    }
    return logits;
  };
  const std::vector<float> cpu_w8a8 = run_cpu(false), cpu_w8a16 = run_cpu(true);
  const std::vector<float> gpu_w8a8 = run_gpu(false), gpu_w8a16 = run_gpu(true);
  ASSERT_EQ(cpu_w8a8.size(), cpu_w8a16.size());
  ASSERT_EQ(gpu_w8a8.size(), cpu_w8a8.size());
  ASSERT_EQ(gpu_w8a16.size(), cpu_w8a8.size());

  const LogprobDistance weight_only = distance(cpu_w8a16, gpu_w8a16, vocab);
  const LogprobDistance cpu_quantization = distance(cpu_w8a16, cpu_w8a8, vocab);
  const LogprobDistance gpu_quantization = distance(gpu_w8a16, gpu_w8a8, vocab);
  const LogprobDistance w8a8 = distance(cpu_w8a8, gpu_w8a8, vocab);
  std::printf("%s: W8A16 GPU vs CPU: %s\n", param.name, describe(weight_only).c_str());
  std::printf("%s: W8A8 vs W8A16 on the CPU: %s\n", param.name, describe(cpu_quantization).c_str());
  std::printf("%s: W8A8 vs W8A16 on the GPU: %s\n", param.name, describe(gpu_quantization).c_str());
  std::printf("%s: W8A8 GPU vs CPU: %s\n", param.name, describe(w8a8).c_str());
  EXPECT_GE(weight_only.agreement, 0.97);
  EXPECT_LT(weight_only.mean, 0.05);
  EXPECT_GT(gpu_quantization.mean, 0.5 * cpu_quantization.mean);
  EXPECT_LT(gpu_quantization.mean, 2.0 * cpu_quantization.mean);
  EXPECT_LT(w8a8.mean, 1.4 * cpu_quantization.mean);
  EXPECT_GE(w8a8.agreement, cpu_quantization.agreement - 0.15);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, Fp8CudaModel,
    ::testing::Values(Fp8ModelCase{"fp8_dynamic_llama", "llama_gqa_hd64", SynthQuantization::kFp8Dynamic, ""},
                      Fp8ModelCase{"fp8_dynamic_qwen2_bias", "qwen2_bias_tied", SynthQuantization::kFp8Dynamic, ""},
                      Fp8ModelCase{"fp8_block_llama", "llama_gqa_hd64", SynthQuantization::kFp8Block, ""},
                      Fp8ModelCase{"online_llama", "llama3_rope_hd128", SynthQuantization::kNone, "fp8"}),
    [](const auto& info) { return std::string(info.param.name); });

// Decode rows through the skinny FP8 kernel: a sequence's logits are the same bits alone and next
// to others.
TEST(Fp8CudaModelDecode, RowsAreBatchInvariant) {
  KILN_SKIP_WITHOUT_GPU();
  const auto loaded = synth("llama_gqa_hd64", SynthQuantization::kFp8Dynamic, "", "decode");
  CudaModelOptions options;
  options.max_num_batched_tokens = 64;
  options.max_num_seqs = 4;
  options.max_model_len = 256;
  options.num_blocks = 16;
  auto model = CudaModel::create(loaded->config, loaded->weights, options);
  ASSERT_TRUE(model.ok()) << model.message();
  std::vector<int32_t> a = {5, 9, 13}, b = {7, 8}, c = {1, 2, 3, 4};
  std::vector<float> ignored;
  // Prefill each sequence, then decode one token for a alone and for a with b and c.
  ASSERT_TRUE((*model)->forward(make_batch({{a, 3, {0}, false}, {b, 2, {1}, false}, {c, 4, {2}, false}}, 16), &ignored).ok());
  a.push_back(11);
  b.push_back(12);
  c.push_back(14);
  std::vector<float> alone, together;
  ASSERT_TRUE((*model)->forward(make_batch({{a, 1, {0}, false}}, 16), &alone).ok());
  ASSERT_TRUE((*model)->forward(make_batch({{b, 1, {1}, false}, {a, 1, {0}, false}, {c, 1, {2}, false}}, 16), &together).ok());
  const int vocab = loaded->config.vocab_size;
  EXPECT_EQ(alone, std::vector<float>(together.begin() + vocab, together.begin() + 2 * vocab));
}

TEST(Fp8CudaModelMemory, WeightsTakeAboutHalf) {
  KILN_SKIP_WITHOUT_GPU();
  const auto bf16 = synth("llama_gqa_hd64", SynthQuantization::kNone, "", "memory_bf16");
  const auto fp8 = synth("llama_gqa_hd64", SynthQuantization::kNone, "fp8", "memory_fp8");
  CudaModelOptions options;
  options.max_num_batched_tokens = 64;
  options.max_num_seqs = 4;
  options.max_model_len = 256;
  options.num_blocks = 16;
  auto a = CudaModel::create(bf16->config, bf16->weights, options);
  auto b = CudaModel::create(fp8->config, fp8->weights, options);
  ASSERT_TRUE(a.ok() && b.ok());
  const ModelConfig& c = bf16->config;
  const int64_t linear_params = static_cast<int64_t>(c.num_hidden_layers) *
                                (static_cast<int64_t>(c.q_size() + 2 * c.kv_size()) * c.hidden_size +
                                 static_cast<int64_t>(c.hidden_size) * c.q_size() +
                                 3LL * c.intermediate_size * c.hidden_size);
  // One byte less per linear weight, a few KB of scales and alignment more.
  const int64_t saved = (*a)->memory_plan().weights_bytes - (*b)->memory_plan().weights_bytes;
  EXPECT_GT(saved, linear_params * 95 / 100);
  EXPECT_LT(saved, linear_params);
}

TEST(Fp8CudaModelErrors, BlockProjectionsFuseOnlyAtWholeBlocks) {
  KILN_SKIP_WITHOUT_GPU();
  // qwen2_bias_tied's k and v have 64 rows: q|k|v cannot share 128-row blocks.
  const auto loaded = synth("qwen2_bias_tied", SynthQuantization::kFp8Block, "", "block_error");
  CudaModelOptions options;
  options.max_num_batched_tokens = 64;
  options.num_blocks = 16;
  options.max_model_len = 256;
  auto model = CudaModel::create(loaded->config, loaded->weights, options);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.message().find("model.layers.0.self_attn.k_proj.weight: 64 rows; the CUDA backend fuses "
                                 "block-quantized projections only at multiples of 128 rows"),
            std::string::npos)
      << model.message();
}

}  // namespace
}  // namespace kiln::cuda
