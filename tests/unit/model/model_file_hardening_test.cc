// Hostile model files (issue 15): deeply nested JSON in config.json, a safetensors header or the
// shard index (error messages dumped them recursively), an eos_token_id of 2^40 (truncated into
// a valid-looking id), sizes that would allocate for minutes (num_hidden_layers 1e6) or overflow
// (max_position_embeddings 2^31-1), and a FIFO named as a weights or config file (open() blocked
// forever). Each is a clear error naming the file and field.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "base/file_reading.h"
#include "model/mapped_file.h"
#include "model/model_config.h"
#include "model/safetensors_file.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using testing_support::TempDir;

std::string llama_with(const std::string& extra) {
  return R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "vocab_size": 256)" + (extra.empty() ? "" : ", " + extra) + "}";
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ModelFileHardening, DeepJsonInConfigIsAnError) {
  for (const std::string field : {R"("eos_token_id": )", R"("architectures": )", R"("x": )"}) {
    auto config = parse_model_config(llama_with(field + nested(100000)), "config.json");
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.message().find("config.json: nests JSON deeper than 64 levels"), std::string::npos)
        << config.message();
  }
}

TEST(ModelFileHardening, DeepJsonInSafetensorsHeaderIsAnError) {
  const std::string header = R"({"__metadata__": )" + nested(100000) + "}";
  auto parsed = parse_safetensors_header(header, 8 + header.size(), 0, "model.safetensors");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.message().find("model.safetensors: header nests JSON deeper than 64 levels"), std::string::npos);
}

TEST(ModelFileHardening, EosTokenIdOutOfIntRangeIsAnError) {
  for (const std::string& id : {std::string("1099511627776"), std::string("[2, 1099511627776]"),
                                std::string("18446744073709551615"), std::string("-1")}) {
    auto config = parse_model_config(llama_with(R"("eos_token_id": )" + id), "config.json");
    ASSERT_FALSE(config.ok()) << id;
    EXPECT_NE(config.message().find("config.json: eos_token_id"), std::string::npos) << config.message();
    EXPECT_NE(config.message().find("outside the vocabulary"), std::string::npos) << config.message();
  }
  EXPECT_TRUE(parse_model_config(llama_with(R"("eos_token_id": [1, 255])"), "config.json").ok());
}

TEST(ModelFileHardening, AbsurdSizesAreRefusedBeforeAnyAllocation) {
  const auto begin = std::chrono::steady_clock::now();
  for (const std::string field : {R"("num_hidden_layers": 1000000)", R"("hidden_size": 2000000000)",
                                   R"("max_position_embeddings": 2147483647)", R"("vocab_size": 2000000000)",
                                   R"("intermediate_size": 1073741824)"}) {
    auto config = parse_model_config(llama_with(field), "config.json");
    ASSERT_FALSE(config.ok()) << field;
    const std::string name = field.substr(1, field.find('"', 1) - 1);
    EXPECT_NE(config.message().find("config.json: " + name), std::string::npos) << config.message();
    EXPECT_NE(config.message().find("larger than kiln supports"), std::string::npos) << config.message();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count(), 1.0);
  // The real models' values pass.
  EXPECT_TRUE(parse_model_config(llama_with(R"("max_position_embeddings": 131072)"), "config.json").ok());
}

TEST(ModelFileHardening, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  const auto fifo = dir.path() / "model.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto mapped = MappedFile::open(fifo);  // blocked forever before
  ASSERT_FALSE(mapped.ok());
  EXPECT_NE(mapped.message().find("is a FIFO, not a regular file"), std::string::npos) << mapped.message();
  const auto config_fifo = dir.path() / "config.json";
  ASSERT_EQ(::mkfifo(config_fifo.c_str(), 0600), 0);
  auto config = load_model_config(config_fifo);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.message().find("config.json: is a FIFO"), std::string::npos) << config.message();
  EXPECT_FALSE(read_regular_file(dir.path()).ok());  // a directory
}

}  // namespace
}  // namespace kiln
