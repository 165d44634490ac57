// The DeepSeek-R1-Distill tokenizer end to end: known ids, special tokens, decode, and the
// special token ids resolved from its config files.
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "deepseek_tokenizer.h"
#include "tokenizer/special_tokens.h"

namespace kiln::tokenizer {
namespace {

using ::kiln::testing::deepseek_tokenizer;
using Ids = std::vector<int32_t>;

TEST(DeepseekTokenizer, ReadmeExample) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const std::string prompt = "<｜begin▁of▁sentence｜><｜User｜>Hello!<｜Assistant｜><think>\n";
  EXPECT_EQ(tokenizer->encode(prompt), (Ids{128000, 128011, 9906, 0, 128012, 128013, 198}));
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(prompt)), prompt);
}

TEST(DeepseekTokenizer, NewlineAndCjkAreNotLost) {
  // The AutoTokenizer pitfall of the model's README: "Hello\n" -> [9906] and "日本語" -> [].
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->encode("Hello\n"), (Ids{9906, 198}));
  const auto ids = tokenizer->encode("日本語");
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(tokenizer->decode(ids), "日本語");
}

TEST(DeepseekTokenizer, AddSpecialTokensPrependsBos) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->bos_token_id(), 128000);
  EXPECT_EQ(tokenizer->encode("Hello", /*add_special_tokens=*/true), (Ids{128000, 9906}));
  EXPECT_EQ(tokenizer->encode("Hello", /*add_special_tokens=*/false), (Ids{9906}));
}

TEST(DeepseekTokenizer, VocabularyAndLookups) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 128256);
  EXPECT_EQ(tokenizer->token_to_id("<｜end▁of▁sentence｜>"), 128001);
  EXPECT_EQ(tokenizer->token_to_id("<think>"), 128013);
  EXPECT_EQ(tokenizer->token_to_id("Ġthe"), 279);
  EXPECT_EQ(tokenizer->token_to_id("<｜tool▁calls▁begin｜>"), std::nullopt);
  EXPECT_EQ(tokenizer->id_to_token(279), "Ġthe");
  EXPECT_EQ(tokenizer->token_bytes(279), " the");
  EXPECT_EQ(tokenizer->token_bytes(198), "\n");
  EXPECT_EQ(tokenizer->token_bytes(128011), "<｜User｜>");
  EXPECT_TRUE(tokenizer->is_special(128000));
  EXPECT_TRUE(tokenizer->is_special(128001));
  EXPECT_TRUE(tokenizer->is_special(128255));
  EXPECT_FALSE(tokenizer->is_special(128011));
  EXPECT_FALSE(tokenizer->is_special(128014));
  EXPECT_FALSE(tokenizer->is_special(279));
  EXPECT_EQ(tokenizer->token_to_id("<|reserved_special_token_247|>"), 128255);
}

TEST(DeepseekTokenizer, SkipSpecialTokensKeepsChatMarkers) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const Ids ids = tokenizer->encode("<｜begin▁of▁sentence｜>Hi<think>ok</think><｜end▁of▁sentence｜>");
  EXPECT_EQ(ids.front(), 128000);
  EXPECT_EQ(ids.back(), 128001);
  EXPECT_EQ(tokenizer->decode(ids, /*skip_special_tokens=*/true), "Hi<think>ok</think>");
  EXPECT_EQ(tokenizer->decode(ids, false),
            "<｜begin▁of▁sentence｜>Hi<think>ok</think><｜end▁of▁sentence｜>");
}

TEST(DeepseekTokenizer, ToolMarkersAreOrdinaryText) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const std::string text = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function";
  const Ids ids = tokenizer->encode(text);
  EXPECT_GT(ids.size(), 3u);
  for (int32_t id : ids) EXPECT_LT(id, 128000);
  EXPECT_EQ(tokenizer->decode(ids), text);
}

TEST(DeepseekTokenizer, SplitPatternPieces) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  // Digits go in groups of three; "'S" splits case-insensitively; trailing spaces stay apart
  // from the next word (\s+(?!\S)).
  auto pieces = [&](const std::string& text) {
    std::vector<std::string> out;
    for (int32_t id : tokenizer->encode(text)) out.push_back(tokenizer->token_bytes(id));
    return out;
  };
  EXPECT_EQ(pieces("1234567"), (std::vector<std::string>{"123", "456", "7"}));
  EXPECT_EQ(pieces("IT'S"), (std::vector<std::string>{"IT", "'S"}));
  EXPECT_EQ(pieces("a   b"), (std::vector<std::string>{"a", "  ", " b"}));
  EXPECT_EQ(pieces("x\n\n  y"), (std::vector<std::string>{"x", "\n\n", " ", " y"}));
}

TEST(DeepseekTokenizer, DecodeRoundTripsRandomBytes) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes(rng() % 64, '\0');
    // Mix ASCII, UTF-8 lead/continuation bytes and arbitrary bytes.
    for (char& c : bytes) c = static_cast<char>(rng() % 4 == 0 ? 0x20 + rng() % 96 : rng() % 256);
    const Ids ids = tokenizer->encode(bytes);
    const std::string text = tokenizer->decode(ids);
    // Invalid UTF-8 reads as U+FFFD on the way in, so decode gives the lossy text back.
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), text);
    EXPECT_EQ(tokenizer->encode(text), ids);
  }
}

TEST(DeepseekTokenizer, ConcurrentEncodesAgree) {
  // One tokenizer is shared by every server thread; its word cache must stay consistent.
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  std::vector<std::string> texts;
  std::mt19937 rng(5);
  const std::vector<std::string> words = {"alpha", " beta", " γάμμα", "日本", " 12345", "'s", "\n",
                                          " rarewordxyz", "qqqzzzk", " 😀", "<think>"};
  for (int i = 0; i < 64; ++i) {
    std::string text;
    for (int j = 0; j < 40; ++j) text += words[rng() % words.size()];
    texts.push_back(text);
  }
  std::vector<Ids> expected;
  for (const auto& text : texts) expected.push_back(tokenizer->encode(text));
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i + t * 7 + round) % texts.size();
          if (tokenizer->encode(texts[k]) != expected[k]) ++failures[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, (std::vector<int>{0, 0, 0, 0}));
}

TEST(DeepseekTokenizer, DecodeSkipsUnknownIds) {
  auto tokenizer = deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->decode(Ids{9906, -1, 999999, 0}), "Hello!");
}

}  // namespace
}  // namespace kiln::tokenizer

namespace kiln::tokenizer {
namespace {

TEST(SpecialTokens, ResolvesDeepseekFiles) {
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const auto dir = testing::deepseek_tokenizer_dir();
  auto tokenizer_config = load_tokenizer_config(dir / "tokenizer_config.json");
  auto generation_config = load_generation_config(dir / "generation_config.json");
  ASSERT_TRUE(tokenizer_config.ok()) << tokenizer_config.message();
  ASSERT_TRUE(generation_config.ok()) << generation_config.message();
  auto ids = resolve_special_tokens(*tokenizer, *tokenizer_config, &*generation_config);
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(ids->bos_id, 128000);
  EXPECT_EQ(ids->pad_id, 128001);
  EXPECT_EQ(ids->eos_ids, (std::vector<int32_t>{128001}));
  EXPECT_TRUE(ids->add_bos);
}

TEST(SpecialTokens, UnknownTokenNamesTheField) {
  auto tokenizer = testing::deepseek_tokenizer();
  ASSERT_NE(tokenizer, nullptr);
  TokenizerConfig config;
  config.eos_token = "<|im_end|>";
  auto ids = resolve_special_tokens(*tokenizer, config, nullptr);
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.message().find("eos_token"), std::string::npos) << ids.message();
  config.eos_token = "<|eot_id|>";
  config.add_bos_token = false;
  GenerationConfig generation;
  generation.eos_token_ids = {128001, 128009};
  ids = resolve_special_tokens(*tokenizer, config, &generation);
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(ids->eos_ids, (std::vector<int32_t>{128001, 128009}));
  EXPECT_FALSE(ids->add_bos);
  EXPECT_EQ(ids->bos_id, 128000);  // from the post-processor
}

}  // namespace
}  // namespace kiln::tokenizer
