// The streaming detokenizer emits only complete characters and adds up to decode exactly.
#include "tokenizer/streaming_detokenizer.h"

#include <random>

#include <gtest/gtest.h>

#include "deepseek_tokenizer.h"
#include "tiny_tokenizer.h"

namespace kiln::tokenizer {
namespace {

using Ids = std::vector<int32_t>;

bool complete_utf8(const std::string& text) {
  // A piece must never end inside a character.
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (i + length > text.size()) return false;
    i += length;
  }
  return true;
}

std::string stream(std::shared_ptr<const Tokenizer> tokenizer, const Ids& ids, bool skip,
                   std::vector<std::string>* pieces = nullptr) {
  StreamingDetokenizer detokenizer(tokenizer, skip);
  std::string text;
  for (int32_t id : ids) {
    const std::string piece = detokenizer.push(id);
    EXPECT_TRUE(complete_utf8(piece)) << "piece ends inside a character";
    if (pieces) pieces->push_back(piece);
    text += piece;
  }
  text += detokenizer.flush();
  return text;
}

TEST(StreamingDetokenizer, HoldsSplitCharactersUntilComplete) {
  auto tokenizer = Tokenizer::from_json_text(testing::tiny_tokenizer_json({}, {}, false).dump(), "tiny");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  // 😀 is F0 9F 98 80, one byte token each.
  std::vector<std::string> pieces;
  EXPECT_EQ(stream(*tokenizer, Ids{'a', 0xF0, 0x9F, 0x98, 0x80, 'b'}, false, &pieces), "a😀b");
  EXPECT_EQ(pieces, (std::vector<std::string>{"a", "", "", "", "😀", "b"}));
  // An incomplete character at the end comes out of flush as U+FFFD, as decode gives it.
  EXPECT_EQ(stream(*tokenizer, Ids{'a', 0xE6, 0x97}, false), "a\xEF\xBF\xBD");
  // A broken sequence is replaced as soon as it is known to be broken.
  pieces.clear();
  EXPECT_EQ(stream(*tokenizer, Ids{0xE6, 'x'}, false, &pieces), "\xEF\xBF\xBDx");
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "\xEF\xBF\xBDx"}));
}

TEST(StreamingDetokenizer, EqualsDecodeOnDeepseekText) {
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<std::string> texts = {
      "<｜begin▁of▁sentence｜><｜User｜>你好，世界！<｜Assistant｜><think>\n嗯",
      "Family: 👨‍👩‍👧‍👦 thumbs 👍🏽 flags 🇯🇵🇫🇷 done<｜end▁of▁sentence｜>",
      "日本語のテキスト、한국어 텍스트, ไทย, हिन्दी, العربية, e\u0301\u0302",
      "code: for (int i = 0; i < n; ++i) { s += a[i]; }\n\t\t  \n",
  };
  for (const std::string& text : texts) {
    const Ids ids = tokenizer->encode(text);
    for (bool skip : {false, true}) {
      EXPECT_EQ(stream(tokenizer, ids, skip), tokenizer->decode(ids, skip)) << text;
    }
  }
}

TEST(StreamingDetokenizer, EqualsDecodeOnRandomTokenSequences) {
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  std::mt19937 rng(11);
  // Random ids, many of them byte tokens (ids 0..255 hold the single bytes in Llama 3's
  // vocabulary, most of them pieces of multi-byte characters), plus special tokens.
  for (int trial = 0; trial < 500; ++trial) {
    Ids ids(rng() % 24);
    for (int32_t& id : ids) {
      const int kind = rng() % 4;
      id = kind == 0 ? static_cast<int32_t>(rng() % 256)
           : kind == 1 ? static_cast<int32_t>(128000 + rng() % 256)
                       : static_cast<int32_t>(rng() % 128000);
    }
    for (bool skip : {false, true}) {
      ASSERT_EQ(stream(tokenizer, ids, skip), tokenizer->decode(ids, skip));
    }
  }
}

}  // namespace
}  // namespace kiln::tokenizer
