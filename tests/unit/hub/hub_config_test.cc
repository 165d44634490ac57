#include "hub/hub_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace kiln::hub {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(HubConfig, DefaultsFollowHuggingfaceHub) {
  Result<HubConfig> config = make_hub_config(env_of({{"HOME", "/home/u"}}), {});
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->endpoint, "https://huggingface.co");
  EXPECT_EQ(config->cache_dir, "/home/u/.cache/huggingface/hub");
  EXPECT_FALSE(config->token.has_value());
  EXPECT_FALSE(config->offline);
}

TEST(HubConfig, CacheDirPrecedence) {
  EXPECT_EQ(make_hub_config(env_of({{"HOME", "/h"}, {"XDG_CACHE_HOME", "/xdg"}}), {})->cache_dir,
            "/xdg/huggingface/hub");
  EXPECT_EQ(make_hub_config(env_of({{"HOME", "/h"}, {"XDG_CACHE_HOME", "/xdg"}, {"HF_HOME", "~/hf"}}), {})
                ->cache_dir,
            "/h/hf/hub");
  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", "/hf"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}}), {})
                ->cache_dir,
            "/legacy");
  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", "/hf"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"},
                                    {"HF_HUB_CACHE", "/new"}}),
                            {})
                ->cache_dir,
            "/new");
  HubConfigOverrides flags;
  flags.cache_dir = "/flag";
  EXPECT_EQ(make_hub_config(env_of({{"HF_HUB_CACHE", "/new"}}), flags)->cache_dir, "/flag");
  Result<HubConfig> nothing = make_hub_config(env_of({}), {});
  ASSERT_FALSE(nothing.ok());
  EXPECT_NE(nothing.message().find("HF_HOME"), std::string::npos);
}

TEST(HubConfig, EndpointDropsTrailingSlash) {
  EXPECT_EQ(make_hub_config(env_of({{"HOME", "/h"}, {"HF_ENDPOINT", "http://127.0.0.1:8080//"}}), {})
                ->endpoint,
            "http://127.0.0.1:8080");
}

TEST(HubConfig, TokenPrecedence) {
  const std::filesystem::path home =
      std::filesystem::temp_directory_path() / ("kiln_hub_config_" + std::to_string(::getpid()));
  std::filesystem::create_directories(home);
  std::ofstream(home / "token") << "  hf_from_file\n";
  const std::string hf_home = home.string();

  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", hf_home}}), {})->token, "hf_from_file");
  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", hf_home}, {"HUGGING_FACE_HUB_TOKEN", "hf_legacy"}}), {})
                ->token,
            "hf_legacy");
  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", hf_home}, {"HUGGING_FACE_HUB_TOKEN", "hf_legacy"},
                                    {"HF_TOKEN", "hf_env"}}),
                            {})
                ->token,
            "hf_env");
  // An empty HF_TOKEN counts as unset, as in huggingface_hub.
  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", hf_home}, {"HF_TOKEN", " "}}), {})->token, "hf_from_file");
  HubConfigOverrides flags;
  flags.token = "hf_flag";
  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", hf_home}, {"HF_TOKEN", "hf_env"}}), flags)->token,
            "hf_flag");
  // HF_TOKEN_PATH moves the file.
  std::ofstream(home / "other_token") << "hf_other";
  EXPECT_EQ(make_hub_config(env_of({{"HF_HOME", hf_home}, {"HF_TOKEN_PATH", (home / "other_token").string()}}),
                            {})
                ->token,
            "hf_other");
  std::filesystem::remove_all(home);
  EXPECT_FALSE(make_hub_config(env_of({{"HF_HOME", hf_home}}), {})->token.has_value());
}

TEST(HubConfig, OfflineValues) {
  for (const char* yes : {"1", "ON", "yes", "True"}) {
    EXPECT_TRUE(make_hub_config(env_of({{"HOME", "/h"}, {"HF_HUB_OFFLINE", yes}}), {})->offline) << yes;
  }
  for (const char* no : {"0", "off", "", "2"}) {
    EXPECT_FALSE(make_hub_config(env_of({{"HOME", "/h"}, {"HF_HUB_OFFLINE", no}}), {})->offline) << no;
  }
  EXPECT_TRUE(make_hub_config(env_of({{"HOME", "/h"}, {"TRANSFORMERS_OFFLINE", "1"}}), {})->offline);
}

TEST(HubConfig, Timeouts) {
  PullOptions options;
  ASSERT_TRUE(apply_hub_timeouts(env_of({{"HF_HUB_DOWNLOAD_TIMEOUT", "3"}, {"HF_HUB_ETAG_TIMEOUT", "7"}}),
                                 &options)
                  .ok());
  EXPECT_EQ(options.stall_timeout_s, 3);
  EXPECT_EQ(options.connect_timeout_s, 7);
  Status bad = apply_hub_timeouts(env_of({{"HF_HUB_DOWNLOAD_TIMEOUT", "soon"}}), &options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("HF_HUB_DOWNLOAD_TIMEOUT"), std::string::npos);
  EXPECT_FALSE(apply_hub_timeouts(env_of({{"HF_HUB_ETAG_TIMEOUT", "0"}}), &options).ok());
}

}  // namespace
}  // namespace kiln::hub
