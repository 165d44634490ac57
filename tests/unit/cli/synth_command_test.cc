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

}  // namespace
}  // namespace kiln::cli
