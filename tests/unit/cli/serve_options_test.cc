#include "cli/serve_options.h"

#include <gtest/gtest.h>

#include "cli/engine_flags.h"

#include <map>

namespace kiln::cli {
namespace {

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(ServeOptionsTest, VllmDefaults) {
  std::string help;
  auto options = parse_serve_options({"deepseek-ai/DeepSeek-R1-Distill-Llama-8B"}, env_of({}), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  EXPECT_EQ(options->model, "deepseek-ai/DeepSeek-R1-Distill-Llama-8B");
  EXPECT_EQ(options->host, "0.0.0.0");
  EXPECT_EQ(options->port, 8000);
  EXPECT_EQ(options->engine.block_size, 16);
  EXPECT_EQ(options->engine.max_num_seqs, 256);
  EXPECT_DOUBLE_EQ(options->engine.gpu_memory_utilization, 0.9);
  EXPECT_TRUE(options->engine.enable_prefix_caching);
  EXPECT_EQ(options->allowed_origins, std::vector<std::string>{"*"});
  EXPECT_FALSE(options->api_key.has_value());
  EXPECT_TRUE(help.empty());
}

TEST(ServeOptionsTest, FlagsAndEnvironment) {
  std::string help;
  auto options = parse_serve_options({"--model", "m", "--port=9000", "--max_model_len", "4096",
                                      "--no-enable-prefix-caching", "--allowed-origins", R"(["http://a","http://b"])",
                                      "--reasoning-parser", "none", "--served-model-name", "x"},
                                     env_of({{"VLLM_API_KEY", "v"}}), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  EXPECT_EQ(options->port, 9000);
  EXPECT_EQ(options->engine.max_model_len, 4096);
  EXPECT_FALSE(options->engine.enable_prefix_caching);
  EXPECT_EQ(options->allowed_origins, (std::vector<std::string>{"http://a", "http://b"}));
  EXPECT_EQ(options->api_key, "v");
  auto kiln_key = parse_serve_options({"m"}, env_of({{"KILN_API_KEY", "k"}, {"VLLM_API_KEY", "v"}}), &help);
  EXPECT_EQ(kiln_key->api_key, "k");
  auto flag_key = parse_serve_options({"m", "--api-key", "f"}, env_of({{"KILN_API_KEY", "k"}}), &help);
  EXPECT_EQ(flag_key->api_key, "f");
}

TEST(ServeOptionsTest, ClearErrors) {
  std::string help;
  auto tp = parse_serve_options({"m", "--tensor-parallel-size", "0"}, env_of({}), &help);
  ASSERT_FALSE(tp.ok());
  EXPECT_NE(tp.message().find("--tensor-parallel-size 0: must be at least 1"), std::string::npos) << tp.message();
  EXPECT_FALSE(parse_serve_options({}, env_of({}), &help).ok());
  EXPECT_FALSE(parse_serve_options({"m", "--gpu-memory-utilization", "1.5"}, env_of({}), &help).ok());
  EXPECT_FALSE(parse_serve_options({"m", "--reasoning-parser", "qwen"}, env_of({}), &help).ok());
  EXPECT_FALSE(parse_serve_options({"m", "--block-size", "12"}, env_of({}), &help).ok());
  EXPECT_FALSE(parse_serve_options({"m", "--bogus"}, env_of({}), &help).ok());
}

TEST(ServeOptionsTest, SecurityLimits) {
  std::string help;
  auto defaults = parse_serve_options({"m"}, env_of({}), &help);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->max_seqs_per_request, 4096);
  EXPECT_FALSE(defaults->trust_request_chat_template);
  EXPECT_DOUBLE_EQ(defaults->http_header_timeout_s, 5);
  EXPECT_DOUBLE_EQ(defaults->http_write_timeout_s, 30);
  auto set = parse_serve_options({"m", "--max-seqs-per-request", "64", "--trust-request-chat-template",
                                  "--http-keep-alive-timeout", "2", "--http-header-timeout", "3",
                                  "--http-body-timeout", "4", "--http-body-min-rate", "0", "--http-write-timeout", "6"},
                                 env_of({}), &help);
  ASSERT_TRUE(set.ok()) << set.message();
  EXPECT_EQ(set->max_seqs_per_request, 64);
  EXPECT_TRUE(set->trust_request_chat_template);
  EXPECT_DOUBLE_EQ(set->http_keep_alive_timeout_s, 2);
  EXPECT_DOUBLE_EQ(set->http_header_timeout_s, 3);
  EXPECT_DOUBLE_EQ(set->http_body_timeout_s, 4);
  EXPECT_DOUBLE_EQ(set->http_body_min_rate, 0);
  EXPECT_DOUBLE_EQ(set->http_write_timeout_s, 6);
  auto zero = parse_serve_options({"m", "--max-seqs-per-request", "0"}, env_of({}), &help);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.message().find("--max-seqs-per-request"), std::string::npos);
  auto timeout = parse_serve_options({"m", "--http-write-timeout", "0"}, env_of({}), &help);
  ASSERT_FALSE(timeout.ok());
  EXPECT_NE(timeout.message().find("--http-write-timeout"), std::string::npos);
}

TEST(ServeOptionsTest, HelpListsFlagsWithDefaults) {
  std::string help;
  auto options = parse_serve_options({"--help"}, env_of({}), &help);
  ASSERT_TRUE(options.ok());
  for (const char* flag : {"--host", "--port", "--served-model-name", "--max-model-len", "--max-num-seqs",
                           "--max-num-batched-tokens", "--block-size", "--gpu-memory-utilization",
                           "--enable-prefix-caching", "--enforce-eager", "--dtype", "--seed", "--generation-config",
                           "--chat-template", "--tensor-parallel-size", "--api-key", "--reasoning-parser",
                           "--allowed-origins", "--max-request-bytes", "--drain-timeout", "--device"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(help.find("(default: 8000)"), std::string::npos);
  EXPECT_NE(help.find("(default: 0.0.0.0)"), std::string::npos);
}

TEST(ServeOptionsTest, ReasoningParserAuto) {
  EXPECT_EQ(resolve_reasoning_parser("auto", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"), "deepseek_r1");
  EXPECT_EQ(resolve_reasoning_parser("auto", "meta-llama/Llama-3.1-8B"), "none");
  EXPECT_EQ(resolve_reasoning_parser("none", "DeepSeek-R1"), "none");
}

TEST(ServeOptionsTest, ChatTemplateFileOrInline) {
  auto inline_template = load_chat_template_flag("{{ messages[0]['content'] }}");
  ASSERT_TRUE(inline_template.ok());
  EXPECT_EQ(*inline_template, "{{ messages[0]['content'] }}");
  EXPECT_FALSE(load_chat_template_flag("/no/such/template.jinja").ok());
  const std::string path = std::string(KILN_BINARY_DIR) + "/serve_options_test_template.jinja";
  FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("{{ bos_token }}", file);
  std::fclose(file);
  auto from_file = load_chat_template_flag(path);
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(*from_file, "{{ bos_token }}");
}

}  // namespace
}  // namespace kiln::cli

namespace kiln::cli {
namespace {

TEST(ServeOptionsTest, SeedIsUnsetUnlessGiven) {
  std::string help;
  auto options = parse_serve_options({"m"}, env_of({}), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  EXPECT_FALSE(options->engine.seed.has_value());
  options = parse_serve_options({"m", "--seed", "0"}, env_of({}), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  EXPECT_EQ(options->engine.seed, 0u);
  options = parse_serve_options({"m", "--seed=-7"}, env_of({}), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  EXPECT_EQ(options->engine.seed, static_cast<uint64_t>(-7));  // as vLLM: the bits are the seed
  for (const char* bad : {"x", "1.5", ""}) {
    auto refused = parse_serve_options({"m", "--seed", bad}, env_of({}), &help);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.message().find("--seed"), std::string::npos);
  }
}

TEST(ServeOptionsTest, DtypeSpellingsAndDevices) {
  for (const auto& [given, normalized] : std::vector<std::pair<std::string, std::string>>{
           {"auto", "auto"}, {"bfloat16", "bfloat16"}, {"bf16", "bfloat16"}, {"float16", "float16"},
           {"half", "float16"}, {"float32", "float32"}, {"float", "float32"}, {"BFloat16", "bfloat16"}}) {
    std::string help;
    auto options = parse_serve_options({"m", "--dtype", given}, env_of({}), &help);
    ASSERT_TRUE(options.ok()) << given << ": " << options.message();
    EXPECT_EQ(options->engine.dtype, normalized);
  }
  std::string help;
  auto bad = parse_serve_options({"m", "--dtype", "int8"}, env_of({}), &help);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("--dtype int8"), std::string::npos) << bad.message();
  EXPECT_TRUE(check_dtype_for_device("auto", "cuda").ok());
  EXPECT_TRUE(check_dtype_for_device("bfloat16", "cuda").ok());
  for (const char* dtype : {"float16", "float32"}) {
    const Status status = check_dtype_for_device(dtype, "cuda");
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find(std::string("--dtype ") + dtype), std::string::npos);
    EXPECT_TRUE(check_dtype_for_device(dtype, "cpu").ok());
  }
}

TEST(ServeOptionsTest, TestFaultInjectionComesOnlyFromTheEnvironment) {
  std::string help;
  auto options = parse_serve_options({"m"}, env_of({}), &help);
  ASSERT_TRUE(options.ok());
  EXPECT_FALSE(options->engine.test_fail_at_position.has_value());
  options = parse_serve_options({"m"}, env_of({{"KILN_TEST_FAIL_AT_POSITION", "48"}}), &help);
  ASSERT_TRUE(options.ok()) << options.message();
  EXPECT_EQ(options->engine.test_fail_at_position, 48);
  for (const char* bad : {"0", "-3", "x", "12x"}) {
    auto refused = parse_serve_options({"m"}, env_of({{"KILN_TEST_FAIL_AT_POSITION", bad}}), &help);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.message().find("KILN_TEST_FAIL_AT_POSITION"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::cli
