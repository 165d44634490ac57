#include "cli/flag_parser.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln::cli {
namespace {

struct ServeFlags {
  std::string host = "0.0.0.0";
  int port = 8000;
  double gpu_memory_utilization = 0.9;
  bool enable_prefix_caching = true;
  std::optional<int> max_model_len;
  std::vector<std::string> includes;
  std::vector<std::string> positionals;
};

FlagParser make_parser(ServeFlags* flags) {
  FlagParser parser("serve", "Serve a model");
  parser.add_string("host", &flags->host, "address to listen on");
  parser.add_int("port", &flags->port, "port");
  parser.add_double("gpu-memory-utilization", &flags->gpu_memory_utilization, "fraction");
  parser.add_bool("enable-prefix-caching", &flags->enable_prefix_caching, "prefix caching");
  parser.add_optional_int("max-model-len", &flags->max_model_len, "max length");
  parser.add_repeated("include", &flags->includes, "pattern");
  parser.allow_positionals(&flags->positionals, "MODEL");
  return parser;
}

TEST(FlagParser, ParsesVllmStyleFlags) {
  ServeFlags flags;
  FlagParser parser = make_parser(&flags);
  ASSERT_TRUE(parser.parse({"my/model", "--port=9000", "--host", "127.0.0.1",
                            "--no-enable-prefix-caching", "--max_model_len", "8192",
                            "--include", "*.json", "--include=*.safetensors"})
                  .ok());
  EXPECT_EQ(flags.port, 9000);
  EXPECT_EQ(flags.host, "127.0.0.1");
  EXPECT_FALSE(flags.enable_prefix_caching);
  EXPECT_EQ(flags.max_model_len, 8192);
  EXPECT_EQ(flags.includes, (std::vector<std::string>{"*.json", "*.safetensors"}));
  EXPECT_EQ(flags.positionals, (std::vector<std::string>{"my/model"}));
  EXPECT_TRUE(parser.was_set("port"));
  EXPECT_FALSE(parser.was_set("gpu-memory-utilization"));
}

TEST(FlagParser, AnOptionalSwitchStaysUnsetUntilGiven) {
  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::optional<bool>>>{
           {{}, std::nullopt},
           {{"--async-scheduling"}, true},
           {{"--no-async-scheduling"}, false},
           {{"--async-scheduling=off"}, false},
           {{"--async_scheduling=1"}, true}}) {
    std::optional<bool> value;
    FlagParser parser("serve", "Serve a model");
    parser.add_optional_bool("async-scheduling", &value, "overlap steps", "on for CUDA");
    ASSERT_TRUE(parser.parse(args).ok()) << (args.empty() ? "" : args[0]);
    EXPECT_EQ(value, expected) << (args.empty() ? "" : args[0]);
  }
  std::optional<bool> value;
  FlagParser parser("serve", "Serve a model");
  parser.add_optional_bool("async-scheduling", &value, "overlap steps", "on for CUDA");
  const Status bad = parser.parse({"--async-scheduling=maybe"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("--async-scheduling"), std::string::npos);
  EXPECT_FALSE(value.has_value());
}

TEST(FlagParser, ErrorsNameTheFlag) {
  ServeFlags flags;
  FlagParser parser = make_parser(&flags);
  auto unknown = parser.parse({"--prot", "1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("--prot"), std::string::npos);

  FlagParser parser2 = make_parser(&flags);
  auto bad_int = parser2.parse({"--port", "eighty"});
  ASSERT_FALSE(bad_int.ok());
  EXPECT_NE(bad_int.message().find("--port"), std::string::npos);

  FlagParser parser3 = make_parser(&flags);
  EXPECT_FALSE(parser3.parse({"--port"}).ok());
  FlagParser parser4 = make_parser(&flags);
  EXPECT_FALSE(parser4.parse({"--gpu-memory-utilization", "nan"}).ok());
}

TEST(FlagParser, HelpListsFlagsWithDefaults) {
  ServeFlags flags;
  FlagParser parser = make_parser(&flags);
  ASSERT_TRUE(parser.parse({"--help"}).ok());
  EXPECT_TRUE(parser.help_requested());
  const std::string help = parser.help_text();
  EXPECT_NE(help.find("--port VALUE"), std::string::npos);
  EXPECT_NE(help.find("(default: 8000)"), std::string::npos);
  EXPECT_NE(help.find("--enable-prefix-caching"), std::string::npos);
}

}  // namespace
}  // namespace kiln::cli

namespace kiln::cli {
namespace {

TEST(FlagParser, ByteSizesCustomValuesAndRewordedHelp) {
  std::optional<int64_t> bytes;
  std::string dtype = "auto";
  int seqs = 256;
  FlagParser parser("bench", "Bench");
  parser.add_byte_size("kv-cache-memory", &bytes, "KV bytes");
  parser.add_custom("dtype", dtype, "compute dtype", [&dtype](const std::string& value) -> Status {
    if (value != "auto" && value != "bf16") return Status::error("--dtype " + value + ": no");
    dtype = value;
    return ok_status();
  });
  parser.add_int("max-num-seqs", &seqs, "sequences");
  parser.set_help("max-num-seqs", "sequences in one batch", "--batch-size");
  parser.set_help("kv-cache-memory", "KV bytes (CPU: 2GiB)");
  ASSERT_TRUE(parser.parse({"--kv-cache-memory", "4GiB", "--dtype=bf16"}).ok());
  EXPECT_EQ(bytes, int64_t{4} << 30);
  EXPECT_EQ(dtype, "bf16");
  const std::string help = parser.help_text();
  EXPECT_NE(help.find("sequences in one batch (default: --batch-size)"), std::string::npos) << help;
  EXPECT_EQ(help.find("(default: 256)"), std::string::npos) << help;
  EXPECT_NE(help.find("KV bytes (CPU: 2GiB)\n"), std::string::npos) << help;
  EXPECT_NE(help.find("compute dtype (default: auto)"), std::string::npos) << help;

  const Status bad_size = parser.parse({"--kv-cache-memory", "lots"});
  ASSERT_FALSE(bad_size.ok());
  EXPECT_EQ(bad_size.message().rfind("--kv-cache-memory: ", 0), 0u) << bad_size.message();
  const Status bad_dtype = parser.parse({"--dtype", "int8"});
  ASSERT_FALSE(bad_dtype.ok());
  EXPECT_NE(bad_dtype.message().find("--dtype int8"), std::string::npos);
}

}  // namespace
}  // namespace kiln::cli
