// config.json's quantization_config: the FP8 formats kiln runs are recognised with their scheme,
// and every other method or unsupported field is a one-line error naming it.
#include "model/quant/quantization_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/model_config.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

// The quantization_config of the published *-FP8-dynamic checkpoints (llm-compressor).
Json fp8_dynamic() {
  return Json::parse(R"({
    "config_groups": {"group_0": {
      "input_activations": {"actorder": null, "block_structure": null, "dynamic": true, "group_size": null,
                            "num_bits": 8, "observer": null, "observer_kwargs": {}, "strategy": "token",
                            "symmetric": true, "type": "float"},
      "output_activations": null, "targets": ["Linear"],
      "weights": {"actorder": null, "block_structure": null, "dynamic": false, "group_size": null,
                  "num_bits": 8, "observer": "minmax", "observer_kwargs": {}, "strategy": "channel",
                  "symmetric": true, "type": "float"}}},
    "format": "float-quantized", "global_compression_ratio": 1.46, "ignore": ["lm_head"],
    "kv_cache_scheme": null, "quant_method": "compressed-tensors", "quantization_status": "compressed"})");
}

// DeepSeek's block format.
Json fp8_block() {
  return Json::parse(R"({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                         "weight_block_size": [128, 128]})");
}

Result<QuantizationConfig> parse(const Json& quantization_config) {
  return parse_quantization_config(Json{{"quantization_config", quantization_config}}, "config.json");
}

void expect_error(const Json& quantization_config, const std::string& needle) {
  const Result<QuantizationConfig> result = parse(quantization_config);
  ASSERT_FALSE(result.ok()) << quantization_config.dump();
  EXPECT_NE(result.message().find(needle), std::string::npos) << result.message();
  EXPECT_EQ(result.message().rfind("config.json: quantization_config", 0), 0u) << result.message();
  EXPECT_EQ(result.message().find('\n'), std::string::npos) << "one line: " << result.message();
}

TEST(QuantizationConfig, AbsentOrNullIsNone) {
  const Result<QuantizationConfig> absent = parse_quantization_config(Json::object(), "config.json");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->enabled());
  EXPECT_FALSE(absent->is_quantized("model.layers.0.self_attn.q_proj"));
  const Result<QuantizationConfig> null = parse(nullptr);
  ASSERT_TRUE(null.ok());
  EXPECT_FALSE(null->enabled());
}

TEST(QuantizationConfig, ReadsCompressedTensorsFp8Dynamic) {
  const Result<QuantizationConfig> config = parse(fp8_dynamic());
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->method, QuantMethod::kCompressedTensors);
  EXPECT_EQ(config->weight_scale, WeightScaleKind::kChannel);
  EXPECT_EQ(config->activation, ActivationScheme::kDynamicPerToken);
  EXPECT_STREQ(config->weight_scale_suffix(), "weight_scale");
  EXPECT_TRUE(config->is_quantized("model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(config->is_quantized("model.layers.31.mlp.down_proj"));
  EXPECT_FALSE(config->is_quantized("lm_head"));
  EXPECT_EQ(config->describe(),
            "compressed-tensors FP8 (E4M3, per-channel weight scales, dynamic per-token activations)");
}

TEST(QuantizationConfig, ReadsAKvCacheScheme) {
  Json config = fp8_dynamic();
  config["kv_cache_scheme"] = {{"num_bits", 8}, {"type", "float"}, {"strategy", "tensor"}, {"dynamic", false},
                               {"symmetric", true}};
  Result<QuantizationConfig> parsed = parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_TRUE(parsed->kv_cache_scales);
  EXPECT_EQ(parsed->method, QuantMethod::kCompressedTensors);
  // Calibrated for the KV cache only: the weights stay unquantized.
  config.erase("config_groups");
  parsed = parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_TRUE(parsed->kv_cache_scales);
  EXPECT_FALSE(parsed->enabled());
  EXPECT_FALSE(parse(fp8_dynamic())->kv_cache_scales);
}

TEST(QuantizationConfig, ReadsStaticPerTensorAndWeightOnly) {
  Json config = fp8_dynamic();
  Json& group = config["config_groups"]["group_0"];
  group["weights"]["strategy"] = "tensor";
  group["input_activations"]["dynamic"] = false;
  group["input_activations"]["strategy"] = "tensor";
  Result<QuantizationConfig> parsed = parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->weight_scale, WeightScaleKind::kTensor);
  EXPECT_EQ(parsed->activation, ActivationScheme::kStaticPerTensor);

  group["input_activations"] = nullptr;  // FP8 weight-only (W8A16)
  parsed = parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->activation, ActivationScheme::kNone);
}

TEST(QuantizationConfig, ReadsCompressedTensorsBlockScheme) {
  Json config = fp8_dynamic();
  Json& group = config["config_groups"]["group_0"];
  group["weights"]["strategy"] = "block";
  group["weights"]["block_structure"] = {128, 128};
  group["input_activations"]["strategy"] = "group";
  group["input_activations"]["group_size"] = 128;
  const Result<QuantizationConfig> parsed = parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->weight_scale, WeightScaleKind::kBlock);
  EXPECT_EQ(parsed->activation, ActivationScheme::kDynamicPerTokenGroup);
  EXPECT_STREQ(parsed->weight_scale_suffix(), "weight_scale");

  group["weights"]["block_structure"] = {64, 64};
  expect_error(config, "block_structure must be [128, 128]");
}

TEST(QuantizationConfig, ReadsFp8BlockFormat) {
  const Result<QuantizationConfig> config = parse(fp8_block());
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->method, QuantMethod::kFp8);
  EXPECT_EQ(config->weight_scale, WeightScaleKind::kBlock);
  EXPECT_EQ(config->block_rows, 128);
  EXPECT_EQ(config->block_cols, 128);
  EXPECT_EQ(config->activation, ActivationScheme::kDynamicPerTokenGroup);
  EXPECT_STREQ(config->weight_scale_suffix(), "weight_scale_inv");
  EXPECT_TRUE(config->is_quantized("model.layers.2.mlp.gate_proj"));
  EXPECT_FALSE(config->is_quantized("lm_head"));
}

TEST(QuantizationConfig, Fp8WithoutBlocksIsPerTensor) {
  Json config = {{"quant_method", "fp8"}, {"activation_scheme", "static"}, {"ignored_layers", {"model.layers.0.mlp"}}};
  const Result<QuantizationConfig> parsed = parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->weight_scale, WeightScaleKind::kTensor);
  EXPECT_EQ(parsed->activation, ActivationScheme::kStaticPerTensor);
  EXPECT_STREQ(parsed->weight_scale_suffix(), "weight_scale");
  // A module path covers the linears below it.
  EXPECT_FALSE(parsed->is_quantized("model.layers.0.mlp.up_proj"));
  EXPECT_TRUE(parsed->is_quantized("model.layers.1.mlp.up_proj"));
}

TEST(QuantizationConfig, TargetsAndIgnoreTakeNamesAndRegexes) {
  Json config = fp8_dynamic();
  config["config_groups"]["group_0"]["targets"] = {"re:.*mlp\\.(gate|up)_proj$"};
  config["ignore"] = {"lm_head", "re:model\\.layers\\.1\\..*"};
  const Result<QuantizationConfig> parsed = parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_TRUE(parsed->is_quantized("model.layers.0.mlp.gate_proj"));
  EXPECT_TRUE(parsed->is_quantized("model.layers.0.mlp.up_proj"));
  EXPECT_FALSE(parsed->is_quantized("model.layers.0.mlp.down_proj"));
  EXPECT_FALSE(parsed->is_quantized("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(parsed->is_quantized("model.layers.1.mlp.up_proj"));

  config["ignore"] = {"re:model.layers.(1"};
  expect_error(config, "ignore entry 're:model.layers.(1' is not a valid regular expression");
}

TEST(QuantizationConfig, OtherMethodsNameThemselvesAndWhatKilnRuns) {
  for (const char* method : {"awq", "gptq", "bitsandbytes", "gguf", "marlin", "modelopt"}) {
    expect_error(Json{{"quant_method", method}, {"bits", 4}},
                 std::string("quant_method '") + method + "' is not supported; kiln supports compressed-tensors");
  }
  expect_error(Json{{"bits", 4}}, "quant_method is missing; kiln supports");
  expect_error(Json::array(), "quantization_config must be an object");
}

TEST(QuantizationConfig, UnsupportedCompressedTensorsSchemesAreNamed) {
  Json config = fp8_dynamic();
  config["config_groups"]["group_0"]["weights"]["type"] = "int";
  expect_error(config, "config_groups.group_0.weights.type 'int' with num_bits 8 is not supported");

  config = fp8_dynamic();
  config["config_groups"]["group_0"]["weights"]["strategy"] = "group";
  expect_error(config, "weights.strategy 'group' is not supported for FP8 weights");

  config = fp8_dynamic();
  config["config_groups"]["group_0"]["input_activations"]["strategy"] = "tensor";  // dynamic per tensor
  expect_error(config, "input_activations.strategy 'tensor' with dynamic true is not supported");

  config = fp8_dynamic();
  config["config_groups"]["group_0"]["weights"]["symmetric"] = false;
  expect_error(config, "weights.symmetric is false");

  config = fp8_dynamic();
  config["kv_cache_scheme"] = {{"num_bits", 8}, {"type", "float"}, {"strategy", "attn_head"}};
  expect_error(config, "kv_cache_scheme.strategy 'attn_head' is not supported");

  config = fp8_dynamic();
  config["kv_cache_scheme"] = {{"num_bits", 4}, {"type", "int"}};
  expect_error(config, "kv_cache_scheme.type 'int' with num_bits 4 is not supported");

  config = fp8_dynamic();
  config["format"] = "pack-quantized";
  expect_error(config, "format 'pack-quantized' is not supported");

  config = fp8_dynamic();
  config["config_groups"]["group_1"] = config["config_groups"]["group_0"];
  config["config_groups"]["group_1"]["weights"]["strategy"] = "tensor";
  expect_error(config, "config_groups.group_1 uses another scheme than the first group");
}

TEST(QuantizationConfig, UnsupportedFp8FieldsAreNamed) {
  Json config = fp8_block();
  config["weight_block_size"] = {64, 64};
  expect_error(config, "weight_block_size [64,64] is not supported (supported: [128, 128])");
  config = fp8_block();
  config["fmt"] = "e5m2";
  expect_error(config, "fmt 'e5m2' is not supported");
  config = fp8_block();
  config["activation_scheme"] = "static";
  expect_error(config, "activation_scheme must be dynamic with weight_block_size");
}

TEST(QuantizationConfig, QuantizationFlag) {
  const QuantizationConfig none;
  Result<QuantizationConfig> applied = apply_quantization_flag(none, "fp8");
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(applied->method, QuantMethod::kOnlineFp8);
  EXPECT_EQ(applied->weight_scale, WeightScaleKind::kChannel);
  EXPECT_EQ(applied->activation, ActivationScheme::kDynamicPerToken);
  EXPECT_TRUE(applied->is_quantized("model.layers.0.self_attn.o_proj"));
  EXPECT_FALSE(applied->is_quantized("lm_head"));

  const Result<QuantizationConfig> block = parse(fp8_block());
  applied = apply_quantization_flag(*block, "fp8");  // already FP8: unchanged
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(applied->method, QuantMethod::kFp8);
  applied = apply_quantization_flag(none, "");
  ASSERT_TRUE(applied.ok());
  EXPECT_FALSE(applied->enabled());

  const Result<QuantizationConfig> awq = apply_quantization_flag(none, "awq");
  ASSERT_FALSE(awq.ok());
  EXPECT_NE(awq.message().find("--quantization awq: not supported (supported: fp8"), std::string::npos)
      << awq.message();
}

TEST(QuantizationConfig, ModelConfigCarriesIt) {
  Json root = Json::parse(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
                              "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256,
                              "torch_dtype": "bfloat16"})");
  root["quantization_config"] = fp8_dynamic();
  const Result<ModelConfig> config = parse_model_config(root.dump(), "config.json");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->quantization.method, QuantMethod::kCompressedTensors);
  root["quantization_config"] = {{"quant_method", "awq"}};
  const Result<ModelConfig> awq = parse_model_config(root.dump(), "config.json");
  ASSERT_FALSE(awq.ok());
  EXPECT_NE(awq.message().find("quant_method 'awq' is not supported"), std::string::npos) << awq.message();
}

}  // namespace
}  // namespace kiln
