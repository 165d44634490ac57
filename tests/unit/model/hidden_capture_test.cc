// CpuModel's hidden-state capture (what an EAGLE-3 head reads): the input of layer 0 is the
// token's embedding, the input of layer L (num_hidden_layers) is the last layer's output, which
// the final norm and lm_head turn into the step's logits, and the input of layer 1 is the output
// of the same model cut to its first layer. Capturing changes no logits.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ops.h"
#include "model/cpu_model.h"
#include "test_model.h"

namespace kiln {
namespace {

using testing::make_batch;
using testing::make_test_model;
using testing::SeqStep;

std::unique_ptr<CpuModel> capture_model(const ModelConfig& config, const ModelWeights& weights, std::vector<int> capture) {
  CpuModelOptions options;
  options.num_blocks = 8;
  options.block_size = 16;
  options.num_threads = 1;
  options.capture_layer_inputs = std::move(capture);
  auto model = CpuModel::create(config, weights, options);
  EXPECT_TRUE(model.ok()) << model.message();
  return std::move(model).value();
}

TEST(HiddenCapture, LayerInputsAreTheEmbeddingTheMiddleAndTheLastOutput) {
  testing::TestModelSpec spec;
  spec.dtype = DType::kF32;
  const auto test_model = make_test_model(spec);
  const ModelConfig& config = test_model->config;
  const int h = config.hidden_size;
  const ForwardBatch batch = make_batch({SeqStep{{3, 14, 15, 9, 2}, 5, {0}, true}}, 16);
  std::vector<float> plain_logits, logits;
  ASSERT_TRUE(capture_model(config, test_model->weights, {})->forward(batch, &plain_logits).ok());
  auto model = capture_model(config, test_model->weights, {0, 1, 2});
  ASSERT_TRUE(model->forward(batch, &logits).ok());
  EXPECT_EQ(logits, plain_logits);
  const std::vector<float>& captured = model->captured_hidden();
  ASSERT_EQ(captured.size(), static_cast<size_t>(5 * 3 * h));

  // The one-layer cut: its last output is the two-layer model's input of layer 1.
  ModelConfig one = config;
  one.num_hidden_layers = 1;
  ModelWeights first = test_model->weights;
  first.layers.resize(1);
  auto cut = capture_model(one, first, {1});
  std::vector<float> unused;
  ASSERT_TRUE(cut->forward(batch, &unused).ok());

  cpu::ThreadPool pool(1);
  const cpu::CpuContext ctx{&pool, cpu::detect_isa()};
  std::vector<float> embedded(static_cast<size_t>(5 * h));
  cpu::embedding(ctx, test_model->weights.embed_tokens, batch.token_ids.data(), 5, embedded.data());
  for (int t = 0; t < 5; ++t) {
    const float* row = captured.data() + static_cast<size_t>(t) * 3 * h;
    for (int x = 0; x < h; ++x) {
      EXPECT_EQ(row[x], embedded[static_cast<size_t>(t * h + x)]) << t << " " << x;
      EXPECT_EQ(row[h + x], cut->captured_hidden()[static_cast<size_t>(t * h + x)]) << t << " " << x;
    }
    // The final norm and lm_head over the last output give the row's logits.
    std::vector<float> normed(static_cast<size_t>(h)), row_logits(static_cast<size_t>(config.vocab_size));
    cpu::rms_norm(ctx, row + 2 * h, test_model->weights.norm, 1, h, static_cast<float>(config.rms_norm_eps), normed.data());
    cpu::matmul(ctx, normed.data(), 1, h, test_model->weights.lm_head, TensorView{}, row_logits.data());
    for (int v = 0; v < config.vocab_size; ++v) {
      EXPECT_NEAR(row_logits[static_cast<size_t>(v)], logits[static_cast<size_t>(t * config.vocab_size + v)], 1e-4f) << t << " " << v;
    }
  }
}

TEST(HiddenCapture, RefusesLayersOutsideTheModel) {
  testing::TestModelSpec spec;
  spec.dtype = DType::kF32;
  const auto test_model = make_test_model(spec);
  CpuModelOptions options;
  options.num_blocks = 8;
  options.capture_layer_inputs = {0, 3};
  auto model = CpuModel::create(test_model->config, test_model->weights, options);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.message(), "hidden state capture: layer 3 is outside the model's 0..2");
}

}  // namespace
}  // namespace kiln
