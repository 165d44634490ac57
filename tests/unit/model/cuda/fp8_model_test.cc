// The CUDA model on FP8 weights (synthesized checkpoints of each format, online FP8 of a bf16
// checkpoint, the weight-only path forced on Hopper) against the CPU backend on the same weights,
// whose FP8 numerics the CPU tests tie to a double reference: the GPU adds bf16 activations, so
// the bounds are those of the bf16 CUDA model against HF (greedy agreement where the CPU's choice
// is clear, mean logprob error). Also: FP8 decode rows are independent of the batch, the weights
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
  bool weight_only;
};

class Fp8CudaModel : public ::testing::TestWithParam<Fp8ModelCase> {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

TEST_P(Fp8CudaModel, AgreesWithTheCpuBackend) {
  const Fp8ModelCase& param = GetParam();
  const auto loaded = synth(param.config, param.format, param.flag, param.name);
  const ModelConfig& config = loaded->config;
  ASSERT_TRUE(config.quantization.enabled());
  int num_blocks = 0;
  const ForwardBatch batch = prompts(config.vocab_size, &num_blocks);

  CpuModelOptions cpu_options;
  cpu_options.num_blocks = num_blocks;
  cpu_options.block_size = 16;
  // The weight-only GPU path against the CPU backend without activation quantization.
  ModelConfig cpu_config = config;
  if (param.weight_only) cpu_config.quantization.activation = ActivationScheme::kNone;
  auto cpu_model = CpuModel::create(cpu_config, loaded->weights, cpu_options);
  ASSERT_TRUE(cpu_model.ok()) << cpu_model.message();
  std::vector<float> reference;
  ASSERT_TRUE((*cpu_model)->forward(batch, &reference).ok());

  CudaModelOptions options = options_for(batch, num_blocks);
  options.fp8_weight_only = param.weight_only;
  auto gpu_model = CudaModel::create(config, loaded->weights, options);
  ASSERT_TRUE(gpu_model.ok()) << gpu_model.message();
  std::vector<float> logits;
  ASSERT_TRUE((*gpu_model)->forward(batch, &logits).ok());
  ASSERT_EQ(logits.size(), reference.size());

  const size_t vocab = static_cast<size_t>(config.vocab_size);
  const size_t rows = logits.size() / vocab;
  int clear = 0, agree = 0;
  double sum_diff = 0, worst = 0;
  for (size_t row = 0; row < rows; ++row) {
    const std::vector<double> expected = kiln::testing::log_softmax_row(reference.data() + row * vocab, vocab);
    const std::vector<double> actual = kiln::testing::log_softmax_row(logits.data() + row * vocab, vocab);
    std::vector<double> sorted = expected;
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
    const size_t best = static_cast<size_t>(std::max_element(expected.begin(), expected.end()) - expected.begin());
    const double diff = std::abs(actual[best] - expected[best]);
    sum_diff += diff;
    worst = std::max(worst, diff);
    if (sorted[0] - sorted[1] > 0.1) {
      ++clear;
      agree += static_cast<size_t>(std::max_element(actual.begin(), actual.end()) - actual.begin()) == best;
    }
  }
  const double agreement = clear ? static_cast<double>(agree) / clear : 1.0;
  std::printf("%s (CUDA FP8 vs CPU FP8): %zu positions, greedy agreement %.4f over %d clear positions, |logprob - CPU| "
              "mean %.4f worst %.4f\n",
              param.name, rows, agreement, clear, sum_diff / rows, worst);
  EXPECT_GE(agreement, 0.97);
  EXPECT_LT(sum_diff / rows, 0.05);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, Fp8CudaModel,
    ::testing::Values(Fp8ModelCase{"fp8_dynamic_llama", "llama_gqa_hd64", SynthQuantization::kFp8Dynamic, "", false},
                      Fp8ModelCase{"fp8_dynamic_qwen2_bias", "qwen2_bias_tied", SynthQuantization::kFp8Dynamic, "",
                                   false},
                      Fp8ModelCase{"fp8_block_llama", "llama_gqa_hd64", SynthQuantization::kFp8Block, "", false},
                      Fp8ModelCase{"online_llama", "llama3_rope_hd128", SynthQuantization::kNone, "fp8", false},
                      Fp8ModelCase{"weight_only_dynamic", "llama_gqa_hd64", SynthQuantization::kFp8Dynamic, "", true},
                      Fp8ModelCase{"weight_only_block", "llama_gqa_hd64", SynthQuantization::kFp8Block, "", true}),
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
