#include "hub/cache_layout.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace kiln::hub {
namespace {
namespace fs = std::filesystem;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

TEST(CacheLayout, PathsMatchHuggingfaceHub) {
  EXPECT_EQ(RepoCache::folder_name("deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
            "models--deepseek-ai--DeepSeek-R1-Distill-Llama-8B");
  RepoCache cache("/c", "org/name");
  EXPECT_EQ(cache.blob_path("abc"), fs::path("/c/models--org--name/blobs/abc"));
  EXPECT_EQ(cache.incomplete_path("abc"), fs::path("/c/models--org--name/blobs/abc.incomplete"));
  EXPECT_EQ(cache.lock_path("abc"), fs::path("/c/.locks/models--org--name/abc.lock"));
  EXPECT_EQ(cache.ref_path("main"), fs::path("/c/models--org--name/refs/main"));
  EXPECT_EQ(cache.pointer_path(kCommit, "a/b.json"),
            fs::path("/c/models--org--name/snapshots/" + kCommit + "/a/b.json"));
}

TEST(CacheLayout, PointerTargetsClimbOneLevelPerFolder) {
  EXPECT_EQ(RepoCache::pointer_target("config.json", "e"), "../../blobs/e");
  EXPECT_EQ(RepoCache::pointer_target("a/config.json", "e"), "../../../blobs/e");
  EXPECT_EQ(RepoCache::pointer_target("a/b/c.json", "e"), "../../../../blobs/e");
}

TEST(CacheLayout, RepoIdsAndPathsAreValidated) {
  EXPECT_TRUE(validate_repo_id("deepseek-ai/DeepSeek-R1-Distill-Llama-8B").ok());
  EXPECT_TRUE(validate_repo_id("Qwen/Qwen2.5-0.5B-Instruct").ok());
  for (const char* bad : {"", "noslash", "a/b/c", "/name", "org/", "org/..", "org/a--b", "org/.hidden",
                          "org/na me", "../x"}) {
    EXPECT_FALSE(validate_repo_id(bad).ok()) << bad;
  }
  EXPECT_TRUE(validate_repo_path("a/b.json").ok());
  for (const char* bad : {"", "/etc/passwd", "a/../../x", "./a", "a//b", "a/"}) {
    EXPECT_FALSE(validate_repo_path(bad).ok()) << bad;
  }
  EXPECT_TRUE(is_commit_hash(kCommit));
  EXPECT_FALSE(is_commit_hash("main"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
}

TEST(CacheLayout, RefsAndPointersOnDisk) {
  const fs::path root = fs::temp_directory_path() / ("kiln_cache_layout_" + std::to_string(::getpid()));
  fs::remove_all(root);
  RepoCache cache(root, "org/name");
  EXPECT_FALSE(cache.cached_commit("main").has_value());
  EXPECT_EQ(cache.cached_commit(kCommit), kCommit);
  ASSERT_TRUE(cache.write_ref("main", kCommit).ok());
  std::ifstream ref(cache.ref_path("main"));
  std::string contents((std::istreambuf_iterator<char>(ref)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, kCommit);  // no newline, like huggingface_hub's write_text
  EXPECT_EQ(cache.cached_commit("main"), kCommit);
  ASSERT_TRUE(cache.write_ref(kCommit, kCommit).ok());
  EXPECT_FALSE(fs::exists(cache.ref_path(kCommit)));

  fs::create_directories(cache.blob_path("e").parent_path());
  std::ofstream(cache.blob_path("e")) << "data";
  ASSERT_TRUE(cache.link_pointer(kCommit, "sub/file.json", "e").ok());
  ASSERT_TRUE(cache.link_pointer(kCommit, "sub/file.json", "e").ok());  // idempotent
  const fs::path pointer = cache.pointer_path(kCommit, "sub/file.json");
  EXPECT_TRUE(fs::is_symlink(pointer));
  EXPECT_EQ(fs::read_symlink(pointer), fs::path("../../../blobs/e"));
  std::ifstream through(pointer);
  std::string data;
  through >> data;
  EXPECT_EQ(data, "data");
  fs::remove_all(root);
}

TEST(CacheLayout, CacheDirTagIsHuggingfaceHubsAndNeverRewritten) {
  const fs::path root = fs::temp_directory_path() / ("kiln_cache_tag_" + std::to_string(::getpid()));
  fs::remove_all(root);
  RepoCache cache(root / "hub", "org/name");
  ASSERT_TRUE(cache.mark_cache_dir().ok());
  auto read = [&] {
    std::ifstream file(root / "hub" / "CACHEDIR.TAG", std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  };
  const std::string tag = read();
  EXPECT_EQ(tag.rfind("Signature: 8a477f597d28d172789f06886806bc55\n", 0), 0u) << tag;
  EXPECT_NE(tag.find("created by huggingface_hub.\n"), std::string::npos) << tag;
  EXPECT_EQ(tag.back(), '\n');
  std::ofstream(root / "hub" / "CACHEDIR.TAG", std::ios::trunc) << "Signature: 8a477f597d28d172789f06886806bc55\nmine\n";
  ASSERT_TRUE(cache.mark_cache_dir().ok());
  EXPECT_EQ(read(), "Signature: 8a477f597d28d172789f06886806bc55\nmine\n");
  for (const auto& entry : fs::directory_iterator(root / "hub")) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace kiln::hub
