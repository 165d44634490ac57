// --speculative-config: vLLM's JSON keys into SpeculativeConfig, errors naming the key.
#include "cli/speculative_config_flag.h"

#include <gtest/gtest.h>

#include "cli/engine_flags.h"
#include "cli/flag_parser.h"

namespace kiln::cli {
namespace {

TEST(SpeculativeConfigFlagTest, ReadsVllmKeys) {
  auto c = parse_speculative_config(
      R"({"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 2, "prompt_lookup_max": 6,
          "disable_by_batch_size": 16, "draft_tensor_parallel_size": 1, "model": null, "draft_tree_topk": 2})");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->method, "ngram");
  EXPECT_EQ(c->num_speculative_tokens, 4);
  EXPECT_EQ(c->draft_tree_topk, 2);
  EXPECT_EQ(c->prompt_lookup_min, 2);
  EXPECT_EQ(c->prompt_lookup_max, 6);
  EXPECT_EQ(c->disable_by_batch_size, 16);
  auto suffix = parse_speculative_config(
      R"({"method": "suffix", "suffix_decoding_max_tree_depth": 16, "suffix_decoding_max_cached_requests": 100,
          "suffix_decoding_max_spec_factor": 2, "suffix_decoding_min_token_prob": 0.2})");
  ASSERT_TRUE(suffix.ok()) << suffix.message();
  EXPECT_EQ(suffix->suffix_decoding_max_tree_depth, 16);
  EXPECT_EQ(suffix->suffix_decoding_max_cached_requests, 100);
  EXPECT_DOUBLE_EQ(suffix->suffix_decoding_max_spec_factor, 2.0);
  EXPECT_DOUBLE_EQ(suffix->suffix_decoding_min_token_prob, 0.2);
  auto eagle = parse_speculative_config(R"({"method": "eagle3", "model": "yuhuili/EAGLE3-DeepSeek-R1-Distill-LLaMA-8B", "num_speculative_tokens": 3})");
  ASSERT_TRUE(eagle.ok());
  EXPECT_EQ(eagle->model, "yuhuili/EAGLE3-DeepSeek-R1-Distill-LLaMA-8B");
}

TEST(SpeculativeConfigFlagTest, ErrorsNameTheKey) {
  auto message = [](const std::string& text) { return parse_speculative_config(text).message(); };
  EXPECT_NE(message("{\"method\": \"ngram\", \"num_speculative_tokens\": \"4\"}").find("num_speculative_tokens must be an integer"), std::string::npos);
  EXPECT_NE(message("{\"method\": \"ngram\", \"lookahead\": 3}").find("lookahead is not a known key"), std::string::npos);
  EXPECT_NE(message("{\"num_speculative_tokens\": 3}").find("method is required"), std::string::npos);
  EXPECT_NE(message("[1, 2]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(message("{\"method\": ").find("not valid JSON"), std::string::npos);
  EXPECT_NE(message("{\"method\": \"ngram\", \"draft_tensor_parallel_size\": 2}").find("must be 1"), std::string::npos);
  EXPECT_NE(message("{\"method\": 5}").find("method must be a string"), std::string::npos);
}

TEST(SpeculativeConfigFlagTest, TheFlagFillsEngineArgsAndValidatesTheFields) {
  EngineArgs args;
  FlagParser parser("test", "test");
  add_engine_flags(parser, &args);
  ASSERT_TRUE(parser.parse({"--speculative-config", R"({"method":"ngram","num_speculative_tokens":3})"}).ok());
  EXPECT_EQ(args.speculative.method, "ngram");
  EXPECT_TRUE(validate_engine_args(args).ok());
  args.speculative.num_speculative_tokens = 0;
  EXPECT_NE(validate_engine_args(args).message().find("--speculative-config: num_speculative_tokens"), std::string::npos);
  EngineArgs bad;
  FlagParser bad_parser("test", "test");
  add_engine_flags(bad_parser, &bad);
  const Status status = bad_parser.parse({"--speculative-config", "{"});
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("--speculative-config"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace kiln::cli
