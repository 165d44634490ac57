#include "model/model_config.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace kiln {
namespace {

using testing_support::source_path;

Result<ModelConfig> parse(const std::string& json) { return parse_model_config(json, "config.json"); }

// A minimal valid Llama config with one field replaced or added.
std::string llama_with(const std::string& extra) {
  return R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "vocab_size": 256)" + (extra.empty() ? "" : ", " + extra) + "}";
}

TEST(ModelConfig, ReadsDeepSeekR1DistillLlama8B) {
  const Result<ModelConfig> config =
      load_model_config(source_path("models/deepseek-r1-distill-llama-8b/config.json"));
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->architecture, Architecture::kLlama);
  EXPECT_EQ(config->architecture_name, "LlamaForCausalLM");
  EXPECT_EQ(config->hidden_size, 4096);
  EXPECT_EQ(config->intermediate_size, 14336);
  EXPECT_EQ(config->num_hidden_layers, 32);
  EXPECT_EQ(config->num_attention_heads, 32);
  EXPECT_EQ(config->num_key_value_heads, 8);
  EXPECT_EQ(config->head_dim, 128);
  EXPECT_EQ(config->vocab_size, 128256);
  EXPECT_DOUBLE_EQ(config->rms_norm_eps, 1e-5);
  EXPECT_EQ(config->max_position_embeddings, 131072);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_FALSE(config->attention_bias);
  EXPECT_DOUBLE_EQ(config->rope_theta, 500000.0);
  EXPECT_EQ(config->rope_scaling.type, RopeType::kLlama3);
  EXPECT_DOUBLE_EQ(config->rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(config->rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(config->rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(config->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(config->dtype, DType::kBF16);
  EXPECT_EQ(config->bos_token_id, 128000);
  EXPECT_EQ(config->eos_token_ids, std::vector<int>{128001});
  EXPECT_EQ(config->q_size(), 4096);
  EXPECT_EQ(config->kv_size(), 1024);
}

TEST(ModelConfig, ReadsDeepSeekR1DistillQwen15B) {
  const Result<ModelConfig> config =
      load_model_config(source_path("tests/data/configs/deepseek-r1-distill-qwen-1.5b.json"));
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->architecture, Architecture::kQwen2);
  EXPECT_EQ(config->model_type, "qwen2");
  EXPECT_EQ(config->hidden_size, 1536);
  EXPECT_EQ(config->intermediate_size, 8960);
  EXPECT_EQ(config->num_hidden_layers, 28);
  EXPECT_EQ(config->num_attention_heads, 12);
  EXPECT_EQ(config->num_key_value_heads, 2);
  EXPECT_EQ(config->head_dim, 128);
  EXPECT_EQ(config->vocab_size, 151936);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_TRUE(config->attention_bias);  // Qwen2: q/k/v biases without a config key
  EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
  EXPECT_EQ(config->rope_scaling.type, RopeType::kDefault);
  EXPECT_EQ(config->max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(config->rms_norm_eps, 1e-6);
  EXPECT_FALSE(config->use_sliding_window);
  EXPECT_EQ(config->sliding_window, 4096);
  EXPECT_EQ(config->eos_token_ids, std::vector<int>{151643});
}

TEST(ModelConfig, ReadsTransformers5Keys) {
  const Result<ModelConfig> config =
      load_model_config(source_path("tests/data/configs/tiny-llama-transformers5.json"));
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->dtype, DType::kF16);
  EXPECT_DOUBLE_EQ(config->rope_theta, 250000.0);
  EXPECT_EQ(config->rope_scaling.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(config->rope_scaling.factor, 2.0);
  EXPECT_EQ(config->head_dim, 32);  // explicit, not hidden / heads
  EXPECT_EQ(config->q_size(), 128);
  EXPECT_TRUE(config->tie_word_embeddings);
}

TEST(ModelConfig, DtypeKeyWinsOverTorchDtype) {
  const auto config = parse(llama_with(R"("torch_dtype": "float32", "dtype": "bfloat16")"));
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->dtype, DType::kBF16);
}

TEST(ModelConfig, ClassicTypeKeyAndYarn) {
  auto linear = parse(llama_with(R"("rope_scaling": {"type": "linear", "factor": 4.0})"));
  ASSERT_TRUE(linear.ok()) << linear.message();
  EXPECT_EQ(linear->rope_scaling.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(linear->rope_scaling.factor, 4.0);

  auto yarn = parse(llama_with(
      R"("max_position_embeddings": 4096, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "beta_fast": 16})"));
  ASSERT_TRUE(yarn.ok()) << yarn.message();
  EXPECT_EQ(yarn->rope_scaling.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(yarn->rope_scaling.beta_fast, 16.0);
  EXPECT_EQ(yarn->rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_FALSE(yarn->rope_scaling.attention_factor.has_value());

  auto none = parse(llama_with(R"("rope_scaling": null, "rope_theta": 1e6)"));
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_EQ(none->rope_scaling.type, RopeType::kDefault);
  EXPECT_DOUBLE_EQ(none->rope_theta, 1e6);
}

TEST(ModelConfig, DefaultsAndEosList) {
  const auto config = parse(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 100, "eos_token_id": [5, 7]})");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->architecture_name, "LlamaForCausalLM");
  EXPECT_EQ(config->num_key_value_heads, 4);  // MHA when absent
  EXPECT_EQ(config->head_dim, 16);
  EXPECT_EQ(config->eos_token_ids, (std::vector<int>{5, 7}));
  EXPECT_FALSE(config->bos_token_id.has_value());
}

struct BadConfig {
  const char* label;
  std::string json;
  std::vector<std::string> expected;  // substrings of the message
};

class ModelConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ModelConfigErrors, NameFileAndField) {
  const Result<ModelConfig> config = parse(GetParam().json);
  ASSERT_FALSE(config.ok()) << GetParam().label;
  EXPECT_EQ(config.message().rfind("config.json: ", 0), 0u) << config.message();
  for (const std::string& part : GetParam().expected) {
    EXPECT_NE(config.message().find(part), std::string::npos) << config.message() << " lacks " << part;
  }
  EXPECT_EQ(config.message().find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ModelConfigErrors,
    ::testing::Values(
        BadConfig{"unsupported architecture",
                  R"({"architectures": ["MistralForCausalLM"], "hidden_size": 64})",
                  {"MistralForCausalLM", "LlamaForCausalLM, Qwen2ForCausalLM"}},
        BadConfig{"bad json", "{\"hidden_size\": ", {"not valid JSON"}},
        BadConfig{"not an object", "[1, 2]", {"expected a JSON object"}},
        BadConfig{"missing field",
                  R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 1,
                      "num_hidden_layers": 1, "num_attention_heads": 4})",
                  {"vocab_size is missing"}},
        BadConfig{"kv heads", llama_with(R"("num_key_value_heads": 3)"), {"num_key_value_heads", "(3)"}},
        BadConfig{"heads divide hidden", llama_with(R"("num_attention_heads": 5)"),
                  {"num_attention_heads", "hidden_size"}},
        BadConfig{"zero layers", llama_with(R"("num_hidden_layers": 0)"), {"num_hidden_layers must be positive"}},
        BadConfig{"string size", llama_with(R"("intermediate_size": "128")"), {"intermediate_size must be an integer"}},
        BadConfig{"fractional size", llama_with(R"("vocab_size": 10.5)"), {"vocab_size must be an integer"}},
        BadConfig{"odd head dim", llama_with(R"("head_dim": 15)"), {"head_dim must be even"}},
        BadConfig{"rope type", llama_with(R"("rope_scaling": {"rope_type": "dynamic", "factor": 2.0})"),
                  {"rope_scaling.rope_type", "dynamic", "llama3"}},
        BadConfig{"llama3 missing", llama_with(R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0})"),
                  {"rope_scaling.low_freq_factor is missing"}},
        BadConfig{"rope parameters", llama_with(R"("rope_parameters": {"rope_type": "linear"})"),
                  {"rope_parameters.factor is missing"}},
        BadConfig{"activation", llama_with(R"("hidden_act": "gelu")"), {"hidden_act", "gelu"}},
        BadConfig{"llama bias", llama_with(R"("attention_bias": true)"), {"attention_bias"}},
        BadConfig{"mlp bias", llama_with(R"("mlp_bias": true)"), {"mlp_bias"}},
        BadConfig{"dtype", llama_with(R"("torch_dtype": "int8")"), {"torch_dtype", "int8"}},
        BadConfig{"eos type", llama_with(R"("eos_token_id": "</s>")"), {"eos_token_id"}},
        BadConfig{"eos range", llama_with(R"("eos_token_id": 256)"), {"eos_token_id", "vocab_size 256"}},
        BadConfig{"sliding window",
                  R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
                      "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256,
                      "use_sliding_window": true})",
                  {"use_sliding_window"}},
        BadConfig{"unknown model type", R"({"model_type": "gpt2"})", {"gpt2", "LlamaForCausalLM"}}),
    [](const ::testing::TestParamInfo<BadConfig>& info) {
      std::string name = info.param.label;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(ModelConfig, MissingFileNamesIt) {
  const auto config = load_model_config("/nonexistent/dir/config.json");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.message().find("/nonexistent/dir/config.json"), std::string::npos);
}

TEST(ModelConfig, SupportedArchitectures) {
  EXPECT_EQ(supported_architectures(), "LlamaForCausalLM, Qwen2ForCausalLM");
}

}  // namespace
}  // namespace kiln
