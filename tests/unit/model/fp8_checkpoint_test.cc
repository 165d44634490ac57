// FP8 checkpoints: `kiln synth --quantization` writes the published formats (compressed-tensors
// FP8-dynamic, DeepSeek's fp8 blocks) with codes that quantize the unquantized synth's values,
// the loader maps codes and scales, and broken FP8 checkpoints get errors naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include <nlohmann/json.hpp>

#include "kernels/fp8_linear.h"
#include "model/model_loader.h"
#include "model/safetensors_writer.h"
#include "model/synth_model.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Json = nlohmann::json;
using testing_support::read_file;
using testing_support::source_path;
using testing_support::TempDir;
using testing_support::write_file;

SynthOptions tiny(const std::filesystem::path& out, SynthQuantization quantization,
                  const std::string& config = "tiny-llama.json") {
  SynthOptions options;
  options.config_path = source_path("tests/data/configs/" + config);
  options.out_dir = out;
  options.seed = 77;
  options.quantization = quantization;
  options.show_progress = false;
  options.num_threads = 3;
  return options;
}

LoadOptions quiet() {
  LoadOptions options;
  options.prefault = false;
  options.show_progress = false;
  return options;
}

float value_at(const TensorView& view, int64_t index) {
  const auto* bytes = static_cast<const uint8_t*>(view.data);
  uint16_t bits;
  float value;
  switch (view.dtype) {
    case DType::kF32: std::memcpy(&value, bytes + 4 * index, 4); return value;
    case DType::kBF16: std::memcpy(&bits, bytes + 2 * index, 2); return bf16_to_f32(bits);
    case DType::kF16: std::memcpy(&bits, bytes + 2 * index, 2); return f16_to_f32(bits);
    case DType::kF8E4M3: return fp8_e4m3_to_f32(bytes[index]);
  }
  return NAN;
}

TEST(Fp8Checkpoint, SynthFp8DynamicQuantizesTheBf16ModelPerChannel) {
  TempDir dir;
  ASSERT_TRUE(synth_model(tiny(dir.path() / "bf16", SynthQuantization::kNone)).ok());
  const Result<SynthReport> report = synth_model(tiny(dir.path() / "fp8", SynthQuantization::kFp8Dynamic));
  ASSERT_TRUE(report.ok()) << report.message();

  const Json config = Json::parse(read_file(dir.path() / "fp8/config.json"));
  EXPECT_EQ(config["quantization_config"]["quant_method"], "compressed-tensors");
  EXPECT_EQ(config["quantization_config"]["format"], "float-quantized");
  EXPECT_EQ(config["quantization_config"]["ignore"], Json::array({"lm_head"}));
  EXPECT_EQ(config["quantization_config"]["config_groups"]["group_0"]["weights"]["strategy"], "channel");
  EXPECT_EQ(config["quantization_config"]["config_groups"]["group_0"]["input_activations"]["strategy"], "token");
  EXPECT_EQ(config["torch_dtype"], "bfloat16");

  auto bf16 = load_model(dir.path() / "bf16", quiet());
  auto fp8 = load_model(dir.path() / "fp8", quiet());
  ASSERT_TRUE(bf16.ok()) << bf16.message();
  ASSERT_TRUE(fp8.ok()) << fp8.message();
  EXPECT_EQ((*fp8)->config.quantization.method, QuantMethod::kCompressedTensors);
  const LayerWeights& reference = (*bf16)->weights.layers[1];
  const LayerWeights& layer = (*fp8)->weights.layers[1];
  EXPECT_EQ(layer.down_proj.dtype, DType::kF8E4M3);
  EXPECT_EQ(layer.down_proj.shape, reference.down_proj.shape);
  const TensorView& scale = layer.down_proj_scales.weight_scale;
  EXPECT_EQ(scale.dtype, DType::kBF16);
  EXPECT_EQ(scale.shape, (std::vector<int64_t>{64, 1}));
  EXPECT_TRUE(layer.down_proj_scales.input_scale.empty());
  const int64_t k = layer.down_proj.dim(1);
  for (int64_t row = 0; row < 64; ++row) {
    float absmax = 0;
    for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(value_at(reference.down_proj, row * k + i)));
    // The stored scale is absmax / 448 rounded to bf16, and every code quantizes with it.
    EXPECT_EQ(value_at(scale, row), bf16_to_f32(f32_to_bf16(absmax / 448.0f))) << row;
    for (int64_t i = 0; i < k; ++i) {
      const uint8_t code = static_cast<const uint8_t*>(layer.down_proj.data)[row * k + i];
      ASSERT_EQ(code, fp8_quantize(value_at(reference.down_proj, row * k + i), value_at(scale, row)))
          << "row " << row << " column " << i;
    }
  }
  // The head and the norms stay bf16, bit for bit the unquantized synth's.
  EXPECT_EQ((*fp8)->weights.lm_head.dtype, DType::kBF16);
  EXPECT_TRUE((*fp8)->weights.lm_head_scales.weight_scale.empty());
  EXPECT_EQ(0, std::memcmp((*fp8)->weights.lm_head.data, (*bf16)->weights.lm_head.data,
                           (*bf16)->weights.lm_head.size_bytes()));
  EXPECT_LT((*fp8)->weight_bytes, (*bf16)->weight_bytes);
}

TEST(Fp8Checkpoint, SynthFp8BlockWritesDeepSeeksFormat) {
  TempDir dir;
  SynthOptions options = tiny(dir.path() / "bf16", SynthQuantization::kNone, "tiny-qwen2.json");
  ASSERT_TRUE(synth_model(options).ok());
  options = tiny(dir.path() / "fp8", SynthQuantization::kFp8Block, "tiny-qwen2.json");
  options.max_shard_bytes = 30000;  // several shards: a weight's scales stay with it
  const Result<SynthReport> report = synth_model(options);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_GT(report->num_files, 1);
  const Json config = Json::parse(read_file(dir.path() / "fp8/config.json"));
  EXPECT_EQ(config["quantization_config"],
            Json::parse(R"({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]})"));
  const Json index = Json::parse(read_file(dir.path() / "fp8/model.safetensors.index.json"));
  for (const auto& [name, file] : index["weight_map"].items()) {
    const std::string suffix = ".weight_scale_inv";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      EXPECT_EQ(file, index["weight_map"][name.substr(0, name.size() - suffix.size()) + ".weight"]) << name;
    }
  }

  auto bf16 = load_model(dir.path() / "bf16", quiet());
  auto fp8 = load_model(dir.path() / "fp8", quiet());
  ASSERT_TRUE(bf16.ok()) << bf16.message();
  ASSERT_TRUE(fp8.ok()) << fp8.message();
  const ModelConfig& c = (*fp8)->config;
  const LayerWeights& layer = (*fp8)->weights.layers[0];
  const LayerWeights& reference = (*bf16)->weights.layers[0];
  const TensorView& scale = layer.gate_proj_scales.weight_scale;
  EXPECT_EQ(scale.dtype, DType::kF32);
  const int64_t n = c.intermediate_size, k = c.hidden_size;
  EXPECT_EQ(scale.shape, (std::vector<int64_t>{(n + 127) / 128, (k + 127) / 128}));
  // Qwen2's biases stay bf16 next to FP8 projections.
  EXPECT_EQ(layer.q_bias.dtype, DType::kBF16);
  EXPECT_EQ(layer.q_proj.dtype, DType::kF8E4M3);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t i = 0; i < k; ++i) {
      const float block_scale = value_at(scale, (row / 128) * scale.dim(1) + i / 128);
      const float original = value_at(reference.gate_proj, row * k + i);
      ASSERT_EQ(static_cast<const uint8_t*>(layer.gate_proj.data)[row * k + i], fp8_quantize(original, block_scale));
    }
  }
}

TEST(Fp8Checkpoint, StaticSchemeFromTheInputConfigWritesInputScales) {
  TempDir dir;
  Json config = Json::parse(read_file(source_path("tests/data/configs/tiny-llama.json")));
  config["quantization_config"] = Json::parse(R"({"quant_method": "fp8", "activation_scheme": "static"})");
  write_file(dir.path() / "config.json", config.dump());
  SynthOptions options = tiny(dir.path() / "out", SynthQuantization::kAsConfig);
  options.config_path = dir.path() / "config.json";
  ASSERT_TRUE(synth_model(options).ok());
  auto loaded = load_model(dir.path() / "out", quiet());
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const LinearScales& scales = (*loaded)->weights.layers[0].o_proj_scales;
  ASSERT_FALSE(scales.input_scale.empty());
  EXPECT_EQ(value_at(scales.input_scale, 0), bf16_to_f32(f32_to_bf16(8.0f / 448.0f)));
  EXPECT_EQ(scales.weight_scale.shape, (std::vector<int64_t>{1}));
  EXPECT_EQ((*loaded)->config.quantization.activation, ActivationScheme::kStaticPerTensor);
}

// Rewrites the checkpoint's config.json with `edit` applied.
void edit_config(const std::filesystem::path& dir, const std::function<void(Json&)>& edit) {
  Json config = Json::parse(read_file(dir / "config.json"));
  edit(config);
  write_file(dir / "config.json", config.dump());
}

void expect_load_error(const std::filesystem::path& dir, const std::string& needle,
                       const LoadOptions& options = quiet()) {
  const auto loaded = load_model(dir, options);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find(needle), std::string::npos) << loaded.message();
}

TEST(Fp8Checkpoint, BrokenCheckpointsNameTheTensor) {
  TempDir dir;
  ASSERT_TRUE(synth_model(tiny(dir.path() / "m", SynthQuantization::kFp8Dynamic)).ok());
  ASSERT_TRUE(synth_model(tiny(dir.path() / "plain", SynthQuantization::kNone)).ok());

  // FP8 tensors under a config without quantization_config.
  edit_config(dir.path() / "m", [](Json& c) { c.erase("quantization_config"); });
  expect_load_error(dir.path() / "m",
                    "model.safetensors: tensor model.layers.0.self_attn.q_proj.weight has dtype F8_E4M3, but "
                    "config.json's quantization_config is missing");
  // A bf16 checkpoint whose config claims FP8.
  std::filesystem::copy_file(dir.path() / "m/config.json", dir.path() / "plain/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(synth_model(tiny(dir.path() / "m", SynthQuantization::kFp8Dynamic)).ok());
  std::filesystem::copy_file(dir.path() / "m/config.json", dir.path() / "plain/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  expect_load_error(dir.path() / "plain",
                    "tensor model.layers.0.self_attn.q_proj.weight has dtype BF16; config.json's quantization_config "
                    "(compressed-tensors FP8 (E4M3, per-channel weight scales, dynamic per-token activations)) needs "
                    "F8_E4M3");
  // Per-tensor scales in the config, per-channel ones in the file.
  edit_config(dir.path() / "m", [](Json& c) {
    c["quantization_config"]["config_groups"]["group_0"]["weights"]["strategy"] = "tensor";
  });
  expect_load_error(dir.path() / "m",
                    "tensor model.layers.0.self_attn.q_proj.weight_scale has shape [64, 1], config.json implies [1]");
  // The block format expects weight_scale_inv.
  edit_config(dir.path() / "m", [](Json& c) {
    c["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {128, 128}}};
  });
  expect_load_error(dir.path() / "m", "tensor model.layers.0.self_attn.q_proj.weight_scale_inv is missing");
}

TEST(Fp8Checkpoint, QuantizationFlagMakesOnlineFp8) {
  TempDir dir;
  ASSERT_TRUE(synth_model(tiny(dir.path(), SynthQuantization::kNone)).ok());
  LoadOptions options = quiet();
  options.quantization = "fp8";
  auto loaded = load_model(dir.path(), options);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ((*loaded)->config.quantization.method, QuantMethod::kOnlineFp8);
  EXPECT_EQ((*loaded)->weights.layers[0].q_proj.dtype, DType::kBF16);  // the backend quantizes
  options.quantization = "int4";
  expect_load_error(dir.path(), "--quantization int4: not supported (supported: fp8", options);
}

}  // namespace
}  // namespace kiln
