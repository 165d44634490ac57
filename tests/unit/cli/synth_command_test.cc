// `kiln synth` exit codes: 0 on success, 2 with one line on stderr for usage errors.
#include <gtest/gtest.h>

#include "../model/temp_dir.h"
#include "cli/commands.h"

namespace kiln::cli {
namespace {

using testing_support::source_path;
using testing_support::TempDir;

struct Outcome {
  int code;
  std::string stderr_text;
};

Outcome run_synth(const CommandArgs& args) {
  ::testing::internal::CaptureStderr();
  const int code = run_synth_command(args);
  return {code, ::testing::internal::GetCapturedStderr()};
}

void expect_usage_error(const Outcome& outcome, const std::string& needle) {
  EXPECT_EQ(outcome.code, 2) << outcome.stderr_text;
  EXPECT_EQ(outcome.stderr_text.rfind("kiln synth: ", 0), 0u) << outcome.stderr_text;
  EXPECT_EQ(std::count(outcome.stderr_text.begin(), outcome.stderr_text.end(), '\n'), 1) << outcome.stderr_text;
  EXPECT_NE(outcome.stderr_text.find(needle), std::string::npos) << outcome.stderr_text;
}

TEST(SynthCommand, WritesALoadableModel) {
  TempDir dir;
  const Outcome outcome = run_synth({"--config", source_path("tests/data/configs/tiny-qwen2.json").string(),
                                     "--out", (dir.path() / "m").string(), "--seed", "9", "--dtype", "f16",
                                     "--std", "0.05"});
  EXPECT_EQ(outcome.code, 0) << outcome.stderr_text;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "m/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "m/config.json"));
}

TEST(SynthCommand, UsageErrorsExitTwoWithOneLine) {
  TempDir dir;
  const std::string config = source_path("tests/data/configs/tiny-llama.json").string();
  const std::string out = (dir.path() / "m").string();
  expect_usage_error(run_synth({"--config", config, "--out", out, "--bogus"}), "--bogus");
  expect_usage_error(run_synth({"--out", out}), "--config is required");
  expect_usage_error(run_synth({"--config", config}), "--out is required");
  expect_usage_error(run_synth({"--config", "/nonexistent/config.json", "--out", out}), "/nonexistent/config.json");
  expect_usage_error(run_synth({"--config", config, "--out", out, "--dtype", "int4"}), "--dtype");
  expect_usage_error(run_synth({"--config", config, "--out", out, "--seed", "x"}), "--seed");
  expect_usage_error(run_synth({"--config", config, "--out", out, "--quantization", "awq"}),
                     "--quantization must be fp8-dynamic, fp8-block or none, got 'awq'");
  expect_usage_error(run_synth({"--config", config, "--out", out, "--tokenizer", "/nonexistent"}), "/nonexistent");

  testing_support::write_file(dir.path() / "mistral.json",
                              R"({"architectures": ["MistralForCausalLM"], "hidden_size": 64})");
  expect_usage_error(run_synth({"--config", (dir.path() / "mistral.json").string(), "--out", out}),
                     "unsupported architecture MistralForCausalLM (supported: LlamaForCausalLM, Qwen2ForCausalLM)");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "m/model.safetensors"));
}

TEST(SynthCommand, WritesAnEagle3HeadAndRefusesBadOnes) {
  TempDir dir;
  const std::string head = source_path("tests/data/configs/tiny-eagle3-head.json").string();
  const std::string out = (dir.path() / "head").string();
  const Outcome outcome = run_synth({"--config", head, "--out", out, "--seed", "4"});
  EXPECT_EQ(outcome.code, 0) << outcome.stderr_text;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "head/model.safetensors"));
  EXPECT_NE(testing_support::read_file(dir.path() / "head/config.json").find("LlamaForCausalLMEagle3"), std::string::npos);
  expect_usage_error(run_synth({"--config", head, "--out", out, "--quantization", "fp8-dynamic"}),
                     "--tokenizer and --quantization do not apply to an EAGLE-3 head");
  testing_support::write_file(dir.path() / "two_layers.json",
                              R"({"architectures": ["LlamaForCausalLMEagle3"], "hidden_size": 64, "intermediate_size": 128,
                                  "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
                                  "vocab_size": 512})");
  expect_usage_error(run_synth({"--config", (dir.path() / "two_layers.json").string(), "--out", out}),
                     "two_layers.json: num_hidden_layers is 2; kiln runs one-layer EAGLE-3 heads");
}

}  // namespace
}  // namespace kiln::cli
