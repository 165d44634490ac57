#include "hub/pull.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "hub/cache_layout.h"

namespace kiln::hub {
namespace {
namespace fs = std::filesystem;

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("kiln_pull_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    config_.cache_dir = (root_ / "hub").string();
    // Nothing listens here: any network use fails fast and visibly.
    config_.endpoint = "http://127.0.0.1:9";
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
  HubConfig config_;
  PullOptions options_;
};

TEST_F(PullTest, LocalDirectoryIsUsedAsIs) {
  Result<fs::path> path = resolve_model(root_.string(), config_, options_);
  ASSERT_TRUE(path.ok()) << path.message();
  EXPECT_EQ(*path, root_);
}

TEST_F(PullTest, NeitherPathNorRepoId) {
  Result<fs::path> path = resolve_model((root_ / "missing").string(), config_, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.message().find("neither a local directory nor"), std::string::npos);
}

TEST_F(PullTest, OfflineResolvesFromRefsAndSnapshots) {
  config_.offline = true;
  Result<fs::path> missing = resolve_model("org/model", config_, options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("HF_HUB_OFFLINE"), std::string::npos);

  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  RepoCache cache(config_.cache_dir, "org/model");
  ASSERT_TRUE(cache.write_ref("main", commit).ok());
  fs::create_directories(cache.blob_path("e").parent_path());
  std::ofstream(cache.blob_path("e")) << "{}";
  ASSERT_TRUE(cache.link_pointer(commit, "config.json", "e").ok());
  Result<fs::path> found = resolve_model("org/model", config_, options_);
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(*found, cache.snapshot_dir(commit));
  options_.revision = commit;
  EXPECT_TRUE(pull_model("org/model", config_, options_).ok());
  options_.revision = "other-branch";
  EXPECT_FALSE(pull_model("org/model", config_, options_).ok());
}

TEST_F(PullTest, UnreachableHubWithNothingCached) {
  Result<PullResult> result = pull_model("org/model", config_, options_);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.message().find("cannot reach"), std::string::npos) << result.message();
  EXPECT_NE(result.message().find("HF_HUB_OFFLINE=1"), std::string::npos);
}

TEST_F(PullTest, RedactsTheToken) {
  config_.token = "hf_abc";
  EXPECT_EQ(redact_token("x hf_abc y hf_abc", config_), "x *** y ***");
}

}  // namespace
}  // namespace kiln::hub
