// tokenizer_config.json and generation_config.json readers.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include "tokenizer/generation_config.h"
#include "tokenizer/tokenizer_config.h"

namespace kiln::tokenizer {
namespace {

using ::testing::HasSubstr;

TEST(TokenizerConfig, ReadsTheDeepseekFile) {
  auto config = load_tokenizer_config(std::string(KILN_SOURCE_DIR) +
                                      "/models/deepseek-r1-distill-llama-8b/tokenizer_config.json");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->bos_token, "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(config->eos_token, "<｜end▁of▁sentence｜>");
  EXPECT_EQ(config->pad_token, "<｜end▁of▁sentence｜>");
  EXPECT_EQ(config->unk_token, std::nullopt);
  EXPECT_EQ(config->add_bos_token, true);
  EXPECT_EQ(config->add_eos_token, false);
  EXPECT_EQ(config->model_max_length, 16384);
  EXPECT_EQ(config->tokenizer_class, "LlamaTokenizerFast");
  ASSERT_NE(config->chat_template(), nullptr);
  EXPECT_THAT(*config->chat_template(), HasSubstr("<｜Assistant｜><think>\\n"));
}

TEST(TokenizerConfig, StringTokensAndNamedTemplates) {
  auto config = parse_tokenizer_config(R"({
    "bos_token": "<s>", "eos_token": {"__type": "AddedToken", "content": "</s>"},
    "model_max_length": 1e30,
    "chat_template": [{"name": "default", "template": "{{ x }}"},
                      {"name": "tool_use", "template": "{{ tools }}"}]})",
                                       "tc.json");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->bos_token, "<s>");
  EXPECT_EQ(config->eos_token, "</s>");
  EXPECT_EQ(config->model_max_length, std::nullopt);
  ASSERT_NE(config->chat_template(), nullptr);
  EXPECT_EQ(*config->chat_template(), "{{ x }}");
  ASSERT_NE(config->chat_template("tool_use"), nullptr);
  EXPECT_EQ(*config->chat_template("tool_use"), "{{ tools }}");
  EXPECT_EQ(config->chat_template("rag"), nullptr);
}

TEST(TokenizerConfig, ErrorsNameFileAndField) {
  auto bad_token = parse_tokenizer_config(R"({"bos_token": 5})", "tc.json");
  ASSERT_FALSE(bad_token.ok());
  EXPECT_THAT(bad_token.message(), HasSubstr("tc.json: bos_token"));
  auto bad_template = parse_tokenizer_config(R"({"chat_template": [{"name": "x"}]})", "tc.json");
  ASSERT_FALSE(bad_template.ok());
  EXPECT_THAT(bad_template.message(), HasSubstr("tc.json: chat_template[0]"));
  auto bad_bool = parse_tokenizer_config(R"({"add_bos_token": "yes"})", "tc.json");
  ASSERT_FALSE(bad_bool.ok());
  EXPECT_THAT(bad_bool.message(), HasSubstr("add_bos_token"));
  EXPECT_FALSE(parse_tokenizer_config("[1]", "tc.json").ok());
  EXPECT_FALSE(load_tokenizer_config("/nonexistent/tokenizer_config.json").ok());
}

TEST(TokenizerConfig, ChatTemplateJinjaFileNextToTheConfig) {
  // transformers >= 4.43 may save the template as chat_template.jinja instead.
  const auto dir = std::filesystem::temp_directory_path() /
                   ("kiln_tokenizer_config_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<s>"})";
  std::ofstream(dir / "chat_template.jinja") << "{{ messages }}";
  auto config = load_tokenizer_config(dir / "tokenizer_config.json");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(config.ok()) << config.message();
  ASSERT_NE(config->chat_template(), nullptr);
  EXPECT_EQ(*config->chat_template(), "{{ messages }}");
}

TEST(GenerationConfig, ReadsTheDeepseekFile) {
  auto config = load_generation_config(std::string(KILN_SOURCE_DIR) +
                                       "/models/deepseek-r1-distill-llama-8b/generation_config.json");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->bos_token_id, 128000);
  EXPECT_EQ(config->eos_token_ids, (std::vector<int32_t>{128001}));
  EXPECT_EQ(config->do_sample, true);
  EXPECT_DOUBLE_EQ(config->temperature.value_or(0), 0.6);
  EXPECT_DOUBLE_EQ(config->top_p.value_or(0), 0.95);
  EXPECT_EQ(config->top_k, std::nullopt);
}

TEST(GenerationConfig, EosListAndErrors) {
  auto config = parse_generation_config(
      R"({"eos_token_id": [128001, 128008, 128009], "top_k": 20, "temperature": 1})", "gc.json");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->eos_token_ids, (std::vector<int32_t>{128001, 128008, 128009}));
  EXPECT_EQ(config->top_k, 20);
  EXPECT_DOUBLE_EQ(config->temperature.value_or(0), 1.0);
  auto bad = parse_generation_config(R"({"eos_token_id": ["x"]})", "gc.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr("gc.json: eos_token_id"));
  auto bad_top_p = parse_generation_config(R"({"top_p": "high"})", "gc.json");
  ASSERT_FALSE(bad_top_p.ok());
  EXPECT_THAT(bad_top_p.message(), HasSubstr("top_p"));
}

}  // namespace
}  // namespace kiln::tokenizer
