// Corrupted checkpoints: each gives one error line naming the file and, where there is one,
// the tensor at fault; none crashes.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "model/model_loader.h"
#include "model/safetensors_file.h"
#include "model/synth_model.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Json = nlohmann::json;
using testing_support::read_file;
using testing_support::source_path;
using testing_support::TempDir;
using testing_support::write_file;

constexpr char kShard1[] = "model-00001-of-00003.safetensors";
constexpr char kShard2[] = "model-00002-of-00003.safetensors";

// Splits a safetensors file into its header JSON and data, and joins them back.
struct Parts {
  Json header;
  std::string data;
};

Parts split(const std::filesystem::path& path) {
  const std::string bytes = read_file(path);
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  return {Json::parse(bytes.substr(8, size)), bytes.substr(8 + size)};
}

std::string with_length_prefix(std::string json) {
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return bytes + json;
}

void join(const std::filesystem::path& path, const Parts& parts) {
  write_file(path, with_length_prefix(parts.header.dump()) + parts.data);
}

void edit(const std::filesystem::path& path, const std::function<void(Parts&)>& change) {
  Parts parts = split(path);
  change(parts);
  join(path, parts);
}

struct Corruption {
  const char* label;
  bool sharded;  // synth with three shards instead of one file
  std::function<void(const std::filesystem::path& dir)> apply;
  std::vector<std::string> expected;  // substrings of the message
};

class CorruptCheckpoint : public ::testing::TestWithParam<Corruption> {};

TEST_P(CorruptCheckpoint, FailsWithMessageNamingFileAndTensor) {
  TempDir dir;
  SynthOptions options;
  options.config_path = source_path("tests/data/configs/tiny-llama.json");
  options.out_dir = dir.path();
  options.dtype = DType::kF32;
  options.show_progress = false;
  if (GetParam().sharded) options.max_shard_bytes = 250000;
  const Result<SynthReport> report = synth_model(options);
  ASSERT_TRUE(report.ok()) << report.message();
  ASSERT_EQ(report->num_files, GetParam().sharded ? 3 : 1);
  ASSERT_TRUE(load_model(dir.path(), {false, false}).ok());

  GetParam().apply(dir.path());
  const Result<std::unique_ptr<LoadedModel>> loaded = load_model(dir.path(), {false, false});
  ASSERT_FALSE(loaded.ok()) << GetParam().label;
  for (const std::string& part : GetParam().expected) {
    EXPECT_NE(loaded.message().find(part), std::string::npos) << loaded.message() << "\n  lacks: " << part;
  }
  EXPECT_EQ(loaded.message().find('\n'), std::string::npos) << loaded.message();
}

const std::string kFile = "model.safetensors";
const std::string kUp = "model.layers.1.mlp.up_proj.weight";
const std::string kDown = "model.layers.1.mlp.down_proj.weight";

INSTANTIATE_TEST_SUITE_P(
    Table, CorruptCheckpoint,
    ::testing::Values(
        Corruption{"truncated_header", false,
                   [](const auto& dir) { write_file(dir / kFile, std::string("\x10\x00\x00", 3)); },
                   {"model.safetensors: truncated header"}},
        Corruption{"header_length_beyond_file", false,
                   [](const auto& dir) {
                     std::string bytes = read_file(dir / kFile);
                     bytes[6] = '\x01';  // header length + 2^48
                     write_file(dir / kFile, bytes);
                   },
                   {"model.safetensors: header length", "runs past the end of the file"}},
        Corruption{"file_cut_inside_header", false,
                   [](const auto& dir) { write_file(dir / kFile, read_file(dir / kFile).substr(0, 100)); },
                   {"model.safetensors: header length", "runs past the end of the file (100 bytes)"}},
        Corruption{"bad_json", false,
                   [](const auto& dir) {
                     write_file(dir / kFile, with_length_prefix("{\"a\": [1, 2") + std::string(64, '\0'));
                   },
                   {"model.safetensors: header is not valid JSON"}},
        Corruption{"header_not_json_object", false,
                   [](const auto& dir) { write_file(dir / kFile, with_length_prefix("[1, 2, 3]")); },
                   {"model.safetensors: header does not start with '{'"}},
        Corruption{"offsets_outside_file", false,
                   [](const auto& dir) {
                     // Cut the last 4 KiB: the tensor stored last (by name) now ends beyond the data.
                     const std::string bytes = read_file(dir / kFile);
                     write_file(dir / kFile, bytes.substr(0, bytes.size() - 4096));
                   },
                   {"model.safetensors: tensor model.layers.1.self_attn.v_proj.weight has data_offsets",
                    "beyond the data region",
                    "truncated file?"}},
        Corruption{"begin_after_end", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) {
                       auto& offsets = p.header[kUp]["data_offsets"];
                       offsets = Json::array({offsets[1], offsets[0]});
                     });
                   },
                   {"model.safetensors: tensor " + kUp + " has data_offsets", "begin > end"}},
        Corruption{"overlapping_tensors", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) {
                       p.header[kUp]["data_offsets"] = p.header[kDown]["data_offsets"];
                     });
                   },
                   {"model.safetensors: tensor model.layers.1.mlp.", "overlaps tensor model.layers.1.mlp."}},
        Corruption{"size_not_shape_times_dtype", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) { p.header[kUp]["shape"] = Json::array({128, 63}); });
                   },
                   {"model.safetensors: tensor " + kUp + " has 32768 bytes of data but shape [128, 63]"}},
        Corruption{"unknown_dtype", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) { p.header[kUp]["dtype"] = "Q4_K"; });
                   },
                   {"model.safetensors: tensor " + kUp + " has unknown dtype Q4_K"}},
        Corruption{"wrong_dtype", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) { p.header[kUp]["dtype"] = "I32"; });
                   },
                   {"model.safetensors: tensor " + kUp + " has dtype I32; supported: BF16, F16, F32"}},
        Corruption{"wrong_shape", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) { p.header[kUp]["shape"] = Json::array({64, 128}); });
                   },
                   {"model.safetensors: tensor " + kUp + " has shape [64, 128], config.json implies [128, 64]"}},
        Corruption{"missing_tensor", false,
                   [](const auto& dir) { edit(dir / kFile, [](Parts& p) { p.header.erase(kDown); }); },
                   {"model.safetensors: tensor " + kDown + " is missing", "LlamaForCausalLM, 2 layers"}},
        Corruption{"unexpected_tensor", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) {
                       const size_t end = p.data.size();
                       p.data.append(256, '\0');
                       p.header["model.layers.2.mlp.up_proj.weight"] = {
                           {"dtype", "F32"}, {"shape", {64}}, {"data_offsets", {end, end + 256}}};
                     });
                   },
                   {"model.safetensors: unexpected tensor model.layers.2.mlp.up_proj.weight"}},
        Corruption{"metadata_not_strings", false,
                   [](const auto& dir) {
                     edit(dir / kFile, [](Parts& p) { p.header["__metadata__"]["format"] = 1; });
                   },
                   {"model.safetensors: __metadata__.format is not a string"}},
        Corruption{"not_a_model_dir", false,
                   [](const auto& dir) { std::filesystem::remove(dir / kFile); },
                   {"no model.safetensors or model.safetensors.index.json"}},
        Corruption{"missing_shard_file", true,
                   [](const auto& dir) { std::filesystem::remove(dir / kShard2); },
                   {"model.safetensors.index.json: shard model-00002-of-00003.safetensors (holding tensor model.",
                    "is missing"}},
        Corruption{"index_points_to_missing_tensor", true,
                   [](const auto& dir) {
                     const auto path = dir / "model.safetensors.index.json";
                     Json index = Json::parse(read_file(path));
                     index["weight_map"]["model.layers.0.mlp.extra.weight"] = kShard1;
                     write_file(path, index.dump());
                   },
                   {"model.safetensors.index.json: tensor model.layers.0.mlp.extra.weight is mapped to "
                    "model-00001-of-00003.safetensors, which does not contain it"}},
        Corruption{"index_omits_a_tensor", true,
                   [](const auto& dir) {
                     const auto path = dir / "model.safetensors.index.json";
                     Json index = Json::parse(read_file(path));
                     index["weight_map"].erase("model.norm.weight");
                     write_file(path, index.dump());
                   },
                   {"tensor model.norm.weight is not listed in model.safetensors.index.json"}},
        Corruption{"index_bad_json", true,
                   [](const auto& dir) { write_file(dir / "model.safetensors.index.json", "{\"weight_map\": "); },
                   {"model.safetensors.index.json: not valid JSON"}},
        Corruption{"index_path_escape", true,
                   [](const auto& dir) {
                     const auto path = dir / "model.safetensors.index.json";
                     Json index = Json::parse(read_file(path));
                     index["weight_map"]["model.norm.weight"] = "../x.safetensors";
                     write_file(path, index.dump());
                   },
                   {"model.safetensors.index.json: weight_map entry for tensor model.norm.weight",
                    "outside the model directory"}},
        Corruption{"shard_tensor_twice", true,
                   [](const auto& dir) {
                     // Give shard 2 a copy of a tensor that shard 1 holds.
                     const Parts first = split(dir / kShard1);
                     edit(dir / kShard2, [&](Parts& p) {
                       const size_t end = p.data.size();
                       p.data += first.data.substr(0, 256);
                       p.header["model.embed_tokens.weight"] = {
                           {"dtype", "F32"}, {"shape", {64}}, {"data_offsets", {end, end + 256}}};
                     });
                   },
                   {"tensor model.embed_tokens.weight is also in model-00001-of-00003.safetensors"}},
        Corruption{"sharded_wrong_shape", true,
                   [](const auto& dir) {
                     edit(dir / kShard2, [](Parts& p) {
                       for (auto it = p.header.begin(); it != p.header.end(); ++it) {
                         if (it.key().find("q_proj") != std::string::npos) it.value()["shape"] = Json::array({32, 128});
                       }
                     });
                   },
                   {"model-00002-of-00003.safetensors: tensor model.layers.", "q_proj.weight has shape [32, 128], "
                    "config.json implies [64, 64]"}},
        Corruption{"bad_config", false,
                   [](const auto& dir) { write_file(dir / "config.json", "{\"architectures\": [\"GPT2LMHeadModel\"]}"); },
                   {"config.json: unsupported architecture GPT2LMHeadModel"}}),
    [](const ::testing::TestParamInfo<Corruption>& info) { return std::string(info.param.label); });

TEST(SafetensorsHeader, RejectsMisalignedTensor) {
  const std::string json = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [2, 10]}})";
  const auto header = parse_safetensors_header(json, 16, 16, "x.safetensors");
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.message().find("x.safetensors: tensor w starts at file offset 18, not aligned"),
            std::string::npos)
      << header.message();
}

TEST(SafetensorsHeader, AcceptsEmptyTensorsAndMetadata) {
  const std::string json =
      R"({"__metadata__": {"format": "pt"}, "a": {"dtype": "BF16", "shape": [0, 4], "data_offsets": [0, 0]},
          "b": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]}, "c": {"dtype": "F8_E4M3", "shape": [3],
          "data_offsets": [2, 5]}})";
  const auto header = parse_safetensors_header(json, 8, 5, "x.safetensors");
  ASSERT_TRUE(header.ok()) << header.message();
  ASSERT_EQ(header->tensors.size(), 3u);
  EXPECT_EQ(header->metadata.at("format"), "pt");
  EXPECT_EQ(header->tensors[1].shape, std::vector<int64_t>{});
  EXPECT_EQ(header->tensors[2].dtype, DType::kF8E4M3);
}

TEST(SafetensorsHeader, RejectsHugeShapeWithoutOverflow) {
  const std::string json =
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 0]}})";
  const auto header = parse_safetensors_header(json, 8, 0, "x.safetensors");
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.message().find("tensor w has a shape too large"), std::string::npos) << header.message();
}

TEST(Loader, TiedCheckpointMayCarryTheHeadToo) {
  TempDir dir;
  SynthOptions options;
  options.config_path = source_path("tests/data/configs/tiny-qwen2.json");  // tied
  options.out_dir = dir.path();
  options.show_progress = false;
  ASSERT_TRUE(synth_model(options).ok());
  edit(dir.path() / kFile, [](Parts& p) {
    const size_t end = p.data.size();
    const uint64_t bytes = 384 * 64 * 2;
    p.data.append(bytes, '\0');
    p.header["lm_head.weight"] = {{"dtype", "BF16"}, {"shape", {384, 64}}, {"data_offsets", {end, end + bytes}}};
  });
  const auto loaded = load_model(dir.path(), {false, false});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ((*loaded)->weights.lm_head.data, (*loaded)->weights.embed_tokens.data);  // tied wins, as HF
}

TEST(Loader, IgnoresRotaryInvFreqAndAllowsMixedDtypes) {
  TempDir dir;
  SynthOptions options;
  options.config_path = source_path("tests/data/configs/tiny-llama.json");
  options.out_dir = dir.path();
  options.show_progress = false;
  ASSERT_TRUE(synth_model(options).ok());
  edit(dir.path() / kFile, [](Parts& p) {
    const size_t end = p.data.size();
    p.data.append(64 + 256, '\0');
    p.header["model.layers.0.self_attn.rotary_emb.inv_freq"] = {
        {"dtype", "F32"}, {"shape", {16}}, {"data_offsets", {end, end + 64}}};
    // model.norm.weight as f32, the rest bf16.
    p.header["model.norm.weight"] = {{"dtype", "F32"}, {"shape", {64}}, {"data_offsets", {end + 64, end + 320}}};
  });
  const auto loaded = load_model(dir.path(), {false, false});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ((*loaded)->weights.norm.dtype, DType::kF32);
  EXPECT_EQ((*loaded)->weights.layers[0].input_layernorm.dtype, DType::kBF16);
}

}  // namespace
}  // namespace kiln
