#include "hub/file_selection.h"

#include <gtest/gtest.h>

namespace kiln::hub {
namespace {

TEST(Fnmatch, MatchesLikePythonFnmatchcase) {
  EXPECT_TRUE(fnmatch("*.safetensors", "model-00001-of-00004.safetensors"));
  EXPECT_TRUE(fnmatch("*.safetensors", "sub/model.safetensors"));  // '*' crosses '/'
  EXPECT_FALSE(fnmatch("*.safetensors", "model.safetensors.index.json"));
  EXPECT_TRUE(fnmatch("model-0000?-of-00002.*", "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(fnmatch("[ab]*.json", "a.json"));
  EXPECT_FALSE(fnmatch("[!ab]*.json", "a.json"));
  EXPECT_TRUE(fnmatch("[a-c]x", "bx"));
  EXPECT_TRUE(fnmatch("[]]", "]"));
  EXPECT_TRUE(fnmatch("[x", "[x"));  // unclosed '[' is a literal
  EXPECT_FALSE(fnmatch("*.JSON", "a.json"));  // case-sensitive
  EXPECT_TRUE(fnmatch("original/", "original/consolidated.00.pth"));
  EXPECT_TRUE(fnmatch("*", ""));
  EXPECT_FALSE(fnmatch("?", ""));
  EXPECT_TRUE(fnmatch("**a*b*c**", "xxaxxbxxcxx"));
  EXPECT_FALSE(fnmatch("a*b*c", "abcx"));
}

TEST(FileSelection, DefaultsTakeWhatAServerNeeds) {
  for (const char* path : {"config.json", "generation_config.json", "tokenizer.json",
                           "tokenizer_config.json", "special_tokens_map.json",
                           "model-00001-of-000002.safetensors", "model.safetensors",
                           "model.safetensors.index.json"}) {
    EXPECT_TRUE(is_selected(path, {})) << path;
  }
  for (const char* path : {"pytorch_model.bin", "consolidated.pth", "model.gguf", "model.pt",
                           "README.md", ".gitattributes", "original/model.safetensors",
                           "onnx/config.json"}) {
    EXPECT_FALSE(is_selected(path, {})) << path;
  }
}

TEST(FileSelection, IncludeAddsToTheDefaults) {
  const std::vector<std::string> include = {"*.gguf", "original/"};
  EXPECT_TRUE(is_selected("model-Q4_K_M.gguf", include));
  EXPECT_TRUE(is_selected("original/consolidated.00.pth", include));
  EXPECT_TRUE(is_selected("config.json", include));
  EXPECT_FALSE(is_selected("pytorch_model.bin", include));
}

}  // namespace
}  // namespace kiln::hub
