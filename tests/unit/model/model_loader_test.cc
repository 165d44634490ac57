// synth -> load round trips: every dtype, tied and untied heads, Qwen2 biases, single file and
// HF-style shards; the loaded values are the generator's.
#include "model/model_loader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "model/synth_model.h"
#include "model/weight_rng.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using testing_support::read_file;
using testing_support::source_path;
using testing_support::TempDir;

SynthOptions tiny_options(const std::string& config, const std::filesystem::path& out, DType dtype) {
  SynthOptions options;
  options.config_path = source_path("tests/data/configs/" + config);
  options.out_dir = out;
  options.dtype = dtype;
  options.seed = 1234;
  options.show_progress = false;
  options.num_threads = 3;  // uneven split on purpose: the bytes must not depend on it
  return options;
}

LoadOptions quiet() {
  LoadOptions options;
  options.prefault = false;
  options.show_progress = false;
  return options;
}

float element(const TensorView& view, int64_t index) {
  const auto* bytes = static_cast<const uint8_t*>(view.data);
  switch (view.dtype) {
    case DType::kF32: {
      float value;
      std::memcpy(&value, bytes + 4 * index, 4);
      return value;
    }
    case DType::kBF16:
    case DType::kF16: {
      uint16_t bits;
      std::memcpy(&bits, bytes + 2 * index, 2);
      return view.dtype == DType::kBF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
    }
    case DType::kF8E4M3: break;
  }
  return NAN;
}

float expected_element(uint64_t seed, const std::string& name, int64_t index, double mean, DType dtype) {
  float value;
  fill_normal(weight_stream_key(seed, name), static_cast<uint64_t>(index), 1, mean, 0.02, &value);
  if (dtype == DType::kBF16) return bf16_to_f32(f32_to_bf16(value));
  if (dtype == DType::kF16) return f16_to_f32(f32_to_f16(value));
  return value;
}

struct RoundTripCase {
  const char* config;
  DType dtype;
  bool sharded;
};

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, SynthThenLoad) {
  const RoundTripCase& param = GetParam();
  TempDir dir;
  SynthOptions options = tiny_options(param.config, dir.path(), param.dtype);
  if (param.sharded) options.max_shard_bytes = 40000;  // forces several shards
  const Result<SynthReport> report = synth_model(options);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->num_files > 1, param.sharded);
  EXPECT_EQ(std::filesystem::exists(dir.path() / "model.safetensors.index.json"), param.sharded);

  const Result<std::unique_ptr<LoadedModel>> loaded = load_model(dir.path(), quiet());
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const LoadedModel& model = **loaded;
  const ModelConfig& config = model.config;
  const ModelWeights& weights = model.weights;
  EXPECT_EQ(config.dtype, param.dtype);  // synth rewrote torch_dtype
  EXPECT_EQ(model.checkpoint->files().size(), static_cast<size_t>(report->num_files));
  EXPECT_EQ(model.weight_bytes, static_cast<int64_t>(report->weight_bytes));

  ASSERT_EQ(weights.layers.size(), static_cast<size_t>(config.num_hidden_layers));
  EXPECT_EQ(weights.embed_tokens.shape, (std::vector<int64_t>{config.vocab_size, config.hidden_size}));
  EXPECT_EQ(weights.lm_head.shape, weights.embed_tokens.shape);
  EXPECT_EQ(weights.lm_head.data == weights.embed_tokens.data, config.tie_word_embeddings);
  EXPECT_EQ(weights.norm.shape, (std::vector<int64_t>{config.hidden_size}));
  for (const LayerWeights& layer : weights.layers) {
    EXPECT_EQ(layer.q_proj.shape, (std::vector<int64_t>{config.q_size(), config.hidden_size}));
    EXPECT_EQ(layer.k_proj.shape, (std::vector<int64_t>{config.kv_size(), config.hidden_size}));
    EXPECT_EQ(layer.v_proj.shape, (std::vector<int64_t>{config.kv_size(), config.hidden_size}));
    EXPECT_EQ(layer.o_proj.shape, (std::vector<int64_t>{config.hidden_size, config.q_size()}));
    EXPECT_EQ(layer.gate_proj.shape, (std::vector<int64_t>{config.intermediate_size, config.hidden_size}));
    EXPECT_EQ(layer.up_proj.shape, (std::vector<int64_t>{config.intermediate_size, config.hidden_size}));
    EXPECT_EQ(layer.down_proj.shape, (std::vector<int64_t>{config.hidden_size, config.intermediate_size}));
    EXPECT_EQ(layer.input_layernorm.dtype, param.dtype);
    EXPECT_EQ(layer.q_bias.empty(), !config.attention_bias);
    if (config.attention_bias) {
      EXPECT_EQ(layer.q_bias.shape, (std::vector<int64_t>{config.q_size()}));
      EXPECT_EQ(layer.k_bias.shape, (std::vector<int64_t>{config.kv_size()}));
      EXPECT_EQ(layer.v_bias.shape, (std::vector<int64_t>{config.kv_size()}));
    }
  }

  // Values are the generator's, wherever the tensor landed (file, shard, offset).
  const LayerWeights& last = weights.layers.back();
  const std::string last_prefix = "model.layers." + std::to_string(config.num_hidden_layers - 1) + ".";
  for (int64_t index : {int64_t{0}, int64_t{1}, int64_t{77}, last.up_proj.num_elements() - 1}) {
    EXPECT_EQ(element(last.up_proj, index),
              expected_element(1234, last_prefix + "mlp.up_proj.weight", index, 0.0, param.dtype));
  }
  EXPECT_EQ(element(weights.norm, 5), expected_element(1234, "model.norm.weight", 5, 1.0, param.dtype));
  if (config.attention_bias) {
    EXPECT_EQ(element(last.k_bias, 3),
              expected_element(1234, last_prefix + "self_attn.k_proj.bias", 3, 0.0, param.dtype));
  }
  // Norm weights are 1 + noise, not all ones; matrices have about the requested spread.
  double sum = 0, sum_sq = 0;
  bool all_one = true;
  for (int64_t i = 0; i < weights.norm.num_elements(); ++i) {
    all_one = all_one && element(weights.norm, i) == 1.0f;
    EXPECT_NEAR(element(weights.norm, i), 1.0, 0.15);
  }
  EXPECT_FALSE(all_one);
  const int64_t count = weights.embed_tokens.num_elements();
  for (int64_t i = 0; i < count; ++i) {
    const double value = element(weights.embed_tokens, i);
    sum += value;
    sum_sq += value * value;
  }
  EXPECT_NEAR(sum / count, 0.0, 0.002);
  EXPECT_NEAR(std::sqrt(sum_sq / count), 0.02, 0.002);
}

INSTANTIATE_TEST_SUITE_P(
    Models, RoundTrip,
    ::testing::Values(RoundTripCase{"tiny-llama.json", DType::kBF16, false},
                      RoundTripCase{"tiny-llama.json", DType::kF16, true},
                      RoundTripCase{"tiny-llama.json", DType::kF32, false},
                      RoundTripCase{"tiny-qwen2.json", DType::kBF16, true},
                      RoundTripCase{"tiny-qwen2.json", DType::kF16, false},
                      RoundTripCase{"tiny-qwen2.json", DType::kF32, true},
                      RoundTripCase{"tiny-llama-transformers5.json", DType::kBF16, false}),
    [](const ::testing::TestParamInfo<RoundTripCase>& info) {
      std::string name = info.param.config;
      name = name.substr(0, name.find('.'));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name + "_" + std::string(dtype_name(info.param.dtype)) + (info.param.sharded ? "_sharded" : "");
    });

TEST(Synth, SameSeedSameBytesAndShardingKeepsValues) {
  TempDir dir;
  ASSERT_TRUE(synth_model(tiny_options("tiny-llama.json", dir.path() / "a", DType::kBF16)).ok());
  SynthOptions other_threads = tiny_options("tiny-llama.json", dir.path() / "b", DType::kBF16);
  other_threads.num_threads = 1;
  ASSERT_TRUE(synth_model(other_threads).ok());
  EXPECT_EQ(read_file(dir.path() / "a/model.safetensors"), read_file(dir.path() / "b/model.safetensors"));

  SynthOptions reseeded = tiny_options("tiny-llama.json", dir.path() / "c", DType::kBF16);
  reseeded.seed = 1235;
  ASSERT_TRUE(synth_model(reseeded).ok());
  EXPECT_NE(read_file(dir.path() / "a/model.safetensors"), read_file(dir.path() / "c/model.safetensors"));

  // Sharded output holds the same tensors, byte for byte.
  SynthOptions sharded = tiny_options("tiny-llama.json", dir.path() / "d", DType::kBF16);
  sharded.max_shard_bytes = 30000;
  ASSERT_TRUE(synth_model(sharded).ok());
  auto single = load_model(dir.path() / "a", quiet());
  auto split = load_model(dir.path() / "d", quiet());
  ASSERT_TRUE(single.ok() && split.ok());
  EXPECT_GT((*split)->checkpoint->files().size(), 2u);
  const TensorView& x = (*single)->weights.layers[1].down_proj;
  const TensorView& y = (*split)->weights.layers[1].down_proj;
  EXPECT_EQ(std::memcmp(x.data, y.data, x.size_bytes()), 0);

  // Re-synth into a sharded directory as one file: old shards and index are removed.
  ASSERT_TRUE(synth_model(tiny_options("tiny-llama.json", dir.path() / "d", DType::kBF16)).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "d/model.safetensors.index.json"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "d/model-00001-of-00002.safetensors"));
  EXPECT_TRUE(load_model(dir.path() / "d", quiet()).ok());
}

TEST(Synth, WritesConfigWithDtypeAndCopiesTokenizer) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "tok");
  testing_support::write_file(dir.path() / "tok/tokenizer.json", "{\"model\": {}}");
  testing_support::write_file(dir.path() / "tok/generation_config.json", "{\"temperature\": 0.6}");
  SynthOptions options = tiny_options("tiny-qwen2.json", dir.path() / "out", DType::kF32);
  options.tokenizer_dir = dir.path() / "tok";
  ASSERT_TRUE(synth_model(options).ok());
  EXPECT_EQ(read_file(dir.path() / "out/tokenizer.json"), "{\"model\": {}}");
  EXPECT_EQ(read_file(dir.path() / "out/generation_config.json"), "{\"temperature\": 0.6}");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out/special_tokens_map.json"));
  const std::string config = read_file(dir.path() / "out/config.json");
  EXPECT_NE(config.find("\"torch_dtype\": \"float32\""), std::string::npos) << config;
  EXPECT_NE(config.find("\"max_window_layers\": 2"), std::string::npos) << "keeps other keys";

  options.tokenizer_dir = dir.path() / "missing";
  const Result<SynthReport> report = synth_model(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.message().find("missing"), std::string::npos);
}

TEST(Synth, SafetensorsLayoutMatchesPythonLibrary) {
  TempDir dir;
  ASSERT_TRUE(synth_model(tiny_options("tiny-llama.json", dir.path(), DType::kBF16)).ok());
  const std::string bytes = read_file(dir.path() / "model.safetensors");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_size % 8, 0u);
  const std::string header = bytes.substr(8, header_size);
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"format\":\"pt\"},\"lm_head.weight\":{\"dtype\":\"BF16\","
                         "\"shape\":[512,64],\"data_offsets\":[0,65536]},",
                         0),
            0u)
      << header.substr(0, 200);
  EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));  // padded with spaces
}

TEST(Synth, RefusesWhenDiskIsTooSmall) {
  TempDir dir;
  // The 70B shape in f32 (about 280 GB) does not fit this test machine's disk.
  const std::string config = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8192,
      "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64,
      "num_key_value_heads": 8, "vocab_size": 128256})";
  testing_support::write_file(dir.path() / "config.json", config);
  SynthOptions options = tiny_options("tiny-llama.json", dir.path() / "out", DType::kF32);
  options.config_path = dir.path() / "config.json";
  const std::filesystem::space_info space = std::filesystem::space(dir.path());
  if (space.available > uint64_t{300} << 30) GTEST_SKIP() << "disk has room for a 70B f32 model";
  const Result<SynthReport> report = synth_model(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.message().find("not enough free disk space"), std::string::npos) << report.message();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out/model-00001-of-00057.safetensors"));
}

}  // namespace
}  // namespace kiln
