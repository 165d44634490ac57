#include "cli/tokenizer_adapters.h"

#include <gtest/gtest.h>

#include "../tokenizer/tiny_tokenizer.h"

namespace kiln::cli {
namespace {

using kiln::testing::tiny_tokenizer_json;

TEST(TokenizerAdaptersTest, DetokenizerStreamsCompleteUtf8AndFlushesTheRest) {
  auto tokenizer = tokenizer::Tokenizer::from_json_text(tiny_tokenizer_json({}, {}, false).dump(), "tiny");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  const DetokenizerFactory factory = make_detokenizer_factory(*tokenizer);
  auto detok = factory({}, true);
  const std::string text = "h\xc3\xa9";  // "hé": the é is two byte tokens
  EXPECT_EQ(detok->add(static_cast<uint8_t>(text[0])), "h");
  EXPECT_EQ(detok->add(static_cast<uint8_t>(text[1])), "");
  EXPECT_EQ(detok->add(static_cast<uint8_t>(text[2])), "\xc3\xa9");
  EXPECT_EQ(detok->add(0xe2), "");               // the start of a 3-byte character
  EXPECT_EQ(detok->flush(), "\xef\xbf\xbd");      // U+FFFD, as decode makes it
}

TEST(TokenizerAdaptersTest, GenerationConfigBecomesDefaults) {
  ModelConfig model;
  model.eos_token_ids = {2, 3};
  tokenizer::GenerationConfig generation;
  generation.temperature = 0.6;
  generation.top_p = 0.95;
  generation.eos_token_ids = {128001};
  GenerationDefaults d = generation_defaults_from(generation, model);
  EXPECT_FLOAT_EQ(*d.temperature, 0.6f);
  EXPECT_FLOAT_EQ(*d.top_p, 0.95f);
  EXPECT_FALSE(d.top_k.has_value());
  EXPECT_EQ(d.eos_token_ids, (std::vector<int32_t>{128001}));
  generation.eos_token_ids.clear();  // none in the file: config.json's
  EXPECT_EQ(generation_defaults_from(generation, model).eos_token_ids, (std::vector<int32_t>{2, 3}));
  d = generation_defaults_from_model(model);  // --generation-config vllm
  EXPECT_FALSE(d.temperature.has_value());
  EXPECT_EQ(d.eos_token_ids, (std::vector<int32_t>{2, 3}));
}

}  // namespace
}  // namespace kiln::cli
