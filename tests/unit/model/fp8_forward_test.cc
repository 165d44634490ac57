// The CPU backend on FP8 models (synthesized checkpoints of each format, and online FP8 of a bf16
// one) against a double-precision reference over the same dequantized weights whose linears'
// inputs go through the FP8 activation quantizer: close to it, and measurably closer than the
// same reference without activation quantization, so a model that skipped the quantization would
// fail. Weight-only FP8 must equal the dequantized f32 model to rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "kernels/cpu/thread_pool.h"
#include "kernels/fp8_linear.h"
#include "model/cpu_model.h"
#include "model/model_loader.h"
#include "model/quant/fp8_scales.h"
#include "model/quant/synth_fp8.h"
#include "model/synth_model.h"
#include "test_model.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::make_batch;
using testing::SeqStep;
using testing::TestModel;

constexpr int kBlockSize = 4;

fs::path work_dir(const std::string& name) {
  const fs::path dir = fs::path(KILN_BINARY_DIR) / "test_tmp" / "fp8_forward" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Synthesizes tests/data/configs/<config> with `quantization_config` (null: none) or the synth
// format `format`, and loads it.
std::unique_ptr<LoadedModel> synth_and_load(const std::string& name, const std::string& config,
                                            SynthQuantization format, const Json& quantization_config = nullptr,
                                            const std::string& quantization_flag = "") {
  const fs::path dir = work_dir(name);
  Json json = Json::parse(std::ifstream(fs::path(KILN_SOURCE_DIR) / "tests/data/configs" / config));
  if (!quantization_config.is_null()) json["quantization_config"] = quantization_config;
  std::ofstream(dir / "input.json") << json.dump();
  SynthOptions options;
  options.config_path = dir / "input.json";
  options.out_dir = dir / "model";
  options.seed = 31;
  options.stddev = 0.08;
  options.quantization = format;
  options.show_progress = false;
  const Result<SynthReport> report = synth_model(options);
  EXPECT_TRUE(report.ok()) << report.message();
  LoadOptions load;
  load.prefault = false;
  load.show_progress = false;
  load.quantization = quantization_flag;
  auto loaded = load_model(dir / "model", load);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  return std::move(loaded).value();
}

// The loaded model with every FP8 linear dequantized to f32 (online FP8 quantized here by the
// documented rule), for the double reference and the plain CPU path.
std::unique_ptr<TestModel> dequantized(const LoadedModel& loaded, cpu::ThreadPool* pool) {
  auto model = std::make_unique<TestModel>();
  model->config = loaded.config;
  model->config.quantization = QuantizationConfig{};
  model->weights = loaded.weights;
  const cpu::CpuContext ctx{pool, cpu::Isa::kScalar};
  const QuantizationConfig& q = loaded.config.quantization;
  const auto convert = [&](const std::string& module, TensorView* weight, const LinearScales& scales) {
    if (!q.is_quantized(module)) return;
    const int64_t n = weight->dim(0), k = weight->dim(1);
    std::vector<uint8_t> codes;
    Fp8ScalesF32 converted;
    Fp8Weight fp8;
    fp8.n = static_cast<int>(n);
    fp8.k = static_cast<int>(k);
    fp8.weight_scaling = fp8_weight_scaling(q);
    if (q.checkpoint_is_quantized()) {
      converted = fp8_scales_f32(q, *weight, scales, module).value();
      fp8.weight = static_cast<const uint8_t*>(weight->data);
    } else {  // online: scale = max(absmax / 448, min) per row, codes by fp8_quantize
      codes.resize(static_cast<size_t>(n * k));
      for (int64_t j = 0; j < n; ++j) {
        const uint16_t* row = static_cast<const uint16_t*>(weight->data) + j * k;
        float absmax = 0;
        for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(bf16_to_f32(row[i])));
        converted.weight_scale.push_back(fp8_scale_for_absmax(absmax));
        for (int64_t i = 0; i < k; ++i) codes[static_cast<size_t>(j * k + i)] = fp8_quantize(bf16_to_f32(row[i]), converted.weight_scale.back());
      }
      fp8.weight = codes.data();
    }
    fp8.weight_scale = converted.weight_scale.data();
    model->f32_storage.emplace_back(static_cast<size_t>(n * k));
    cpu::dequantize_fp8_weight(ctx, fp8, model->f32_storage.back().data());
    weight->data = model->f32_storage.back().data();
    weight->dtype = DType::kF32;
  };
  for (int i = 0; i < loaded.config.num_hidden_layers; ++i) {
    LayerWeights& l = model->weights.layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    convert(p + "self_attn.q_proj", &l.q_proj, l.q_proj_scales);
    convert(p + "self_attn.k_proj", &l.k_proj, l.k_proj_scales);
    convert(p + "self_attn.v_proj", &l.v_proj, l.v_proj_scales);
    convert(p + "self_attn.o_proj", &l.o_proj, l.o_proj_scales);
    convert(p + "mlp.gate_proj", &l.gate_proj, l.gate_proj_scales);
    convert(p + "mlp.up_proj", &l.up_proj, l.up_proj_scales);
    convert(p + "mlp.down_proj", &l.down_proj, l.down_proj_scales);
  }
  return model;
}

// The FP8 activation quantizer applied to a reference activation (as f32, as kiln holds it).
testing::LinearInputTransform fake_quantize(Fp8ActivationQuant quant, float input_scale = 0) {
  return [quant, input_scale](std::vector<double>* x, int rows, int cols, const std::string&) {
    for (int t = 0; t < rows; ++t) {
      double* row = x->data() + static_cast<size_t>(t) * cols;
      const int group = quant == Fp8ActivationQuant::kDynamicPerTokenGroup ? kFp8GroupSize : cols;
      for (int first = 0; first < cols; first += group) {
        const int last = std::min(cols, first + group);
        float absmax = 0;
        for (int i = first; i < last; ++i) absmax = std::max(absmax, std::fabs(static_cast<float>(row[i])));
        const float scale = quant == Fp8ActivationQuant::kStaticPerTensor ? input_scale : fp8_scale_for_absmax(absmax);
        for (int i = first; i < last; ++i) {
          row[i] = static_cast<double>(fp8_e4m3_to_f32(fp8_quantize(static_cast<float>(row[i]), scale))) * scale;
        }
      }
    }
  };
}

std::vector<float> cpu_logits(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& tokens) {
  CpuModelOptions options;
  options.num_blocks = 64;
  options.block_size = kBlockSize;
  options.num_threads = 2;
  auto model = CpuModel::create(config, weights, options);
  EXPECT_TRUE(model.ok()) << model.message();
  SeqStep seq;
  seq.tokens = tokens;
  seq.num_new = static_cast<int>(tokens.size());
  seq.all_logits = true;
  for (int b = 0; b < (seq.num_new + kBlockSize - 1) / kBlockSize; ++b) seq.blocks.push_back(b);
  std::vector<float> logits;
  const Status status = (*model)->forward(make_batch({seq}, kBlockSize), &logits);
  EXPECT_TRUE(status.ok()) << status.message();
  return logits;
}

// max |a - b| / max |b|
double max_relative(const std::vector<float>& a, const std::vector<double>& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    norm = std::max(norm, std::fabs(b[i]));
  }
  return diff / norm;
}

std::vector<int32_t> tokens_for(const ModelConfig& config) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> dist(0, config.vocab_size - 1);
  std::vector<int32_t> tokens(24);
  for (int32_t& t : tokens) t = dist(rng);
  return tokens;
}

struct Fp8Case {
  const char* name;
  const char* config;
  SynthQuantization format;
  const char* quantization_config;  // JSON, or "" for none
  const char* flag;                 // --quantization
  Fp8ActivationQuant activation;
};

class Fp8Forward : public ::testing::TestWithParam<Fp8Case> {};

TEST_P(Fp8Forward, MatchesTheReferenceThatQuantizesActivations) {
  const Fp8Case& param = GetParam();
  const Json quantization_config =
      *param.quantization_config ? Json::parse(param.quantization_config) : Json(nullptr);
  const auto loaded = synth_and_load(param.name, param.config, param.format, quantization_config, param.flag);
  ASSERT_TRUE(loaded->config.quantization.enabled());
  cpu::ThreadPool pool(2);
  const auto reference_model = dequantized(*loaded, &pool);
  const std::vector<int32_t> tokens = tokens_for(loaded->config);

  const std::vector<float> fp8 = cpu_logits(loaded->config, loaded->weights, tokens);
  const std::vector<double> plain = testing::reference_logits(*reference_model, tokens);
  if (param.activation == Fp8ActivationQuant::kNone) {
    // Weight-only: the dequantized model's logits, to f32 rounding.
    EXPECT_LT(max_relative(fp8, plain), 1e-5);
    const std::vector<float> dequantized_cpu = cpu_logits(reference_model->config, reference_model->weights, tokens);
    EXPECT_LT(max_relative(dequantized_cpu, plain), 1e-5);
    return;
  }
  // Static checkpoints hold synth's input scale, stored in bf16.
  const float input_scale = bf16_to_f32(f32_to_bf16(kSynthInputScale));
  const std::vector<double> emulated =
      testing::reference_logits(*reference_model, tokens, fake_quantize(param.activation, input_scale));
  const double error = max_relative(fp8, emulated);
  const double unquantized_error = max_relative(fp8, plain);
  std::printf("%s: max relative logit error %.2e against the emulating reference, %.2e without activation "
              "quantization\n", param.name, error, unquantized_error);
  // f32 against double: a rare code flip at a rounding boundary stays far below this.
  EXPECT_LT(error, 1e-4);
  EXPECT_GT(unquantized_error, 100 * error) << "activation quantization must show in the logits";
}

INSTANTIATE_TEST_SUITE_P(
    Formats, Fp8Forward,
    ::testing::Values(
        Fp8Case{"fp8_dynamic", "tiny-llama.json", SynthQuantization::kFp8Dynamic, "", "",
                Fp8ActivationQuant::kDynamicPerToken},
        Fp8Case{"fp8_block", "tiny-qwen2.json", SynthQuantization::kFp8Block, "", "",
                Fp8ActivationQuant::kDynamicPerTokenGroup},
        Fp8Case{"online", "tiny-llama.json", SynthQuantization::kNone, "", "fp8", Fp8ActivationQuant::kDynamicPerToken},
        Fp8Case{"static", "tiny-qwen2.json", SynthQuantization::kAsConfig,
                R"({"quant_method": "fp8", "activation_scheme": "static"})", "", Fp8ActivationQuant::kStaticPerTensor},
        Fp8Case{"weight_only", "tiny-llama.json", SynthQuantization::kAsConfig,
                R"({"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head"],
                    "config_groups": {"g": {"targets": ["Linear"], "input_activations": null,
                      "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": true,
                                  "dynamic": false}}}})",
                "", Fp8ActivationQuant::kNone}),
    [](const ::testing::TestParamInfo<Fp8Case>& info) { return std::string(info.param.name); });

TEST(Fp8Forward, TiedHeadCannotBeQuantized) {
  const auto loaded = synth_and_load("tied", "tiny-llama.json", SynthQuantization::kNone);
  ModelConfig config = loaded->config;
  config.tie_word_embeddings = true;
  config.quantization = online_fp8_quantization();
  config.quantization.ignore.clear();
  ModelWeights weights = loaded->weights;
  weights.lm_head = weights.embed_tokens;
  CpuModelOptions options;
  options.num_blocks = 8;
  const auto model = CpuModel::create(config, weights, options);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.message().find("quantizes lm_head, which is tied to embed_tokens"), std::string::npos)
      << model.message();
}

}  // namespace
}  // namespace kiln
