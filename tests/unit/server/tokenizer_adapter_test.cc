// The chat template adapter with DeepSeek-R1-Distill's real template (from the model's
// tokenizer_config.json in models/): the guide's request renders as vLLM renders it.
#include "server/tokenizer_adapter.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer_config.h"

namespace kiln::server {
namespace {

TEST(TokenizerAdapterTest, RendersTheGuideRequestWithTheR1Template) {
  auto config = tokenizer::load_tokenizer_config(std::string(KILN_SOURCE_DIR) +
                                      "/models/deepseek-r1-distill-llama-8b/tokenizer_config.json");
  ASSERT_TRUE(config.ok()) << config.message();
  ASSERT_NE(config->chat_template(), nullptr);
  auto compiled = tokenizer::ChatTemplate::compile(*config->chat_template());
  ASSERT_TRUE(compiled.ok()) << compiled.message();
  ChatTemplateRenderer renderer(std::move(*compiled), config->bos_token.value_or(""),
                                config->eos_token.value_or(""));
  const nlohmann::json messages =
      nlohmann::json::parse(R"([{"role":"user","content":"Explain about DeepSeek model?"}])");
  const nlohmann::json tools;
  const nlohmann::json kwargs = nlohmann::json::object();
  auto text = renderer.render(api::ChatRenderInputs{messages, true, false, tools, kwargs});
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(*text,
            "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
            "<\xef\xbd\x9cUser\xef\xbd\x9c>Explain about DeepSeek model?"
            "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\n");
}

// --trust-request-chat-template: the request's own template renders in place of the model's, and
// one that does not compile is an error that names the field.
TEST(TokenizerAdapterTest, RendersARequestsOwnTemplate) {
  auto compiled = tokenizer::ChatTemplate::compile("server");
  ASSERT_TRUE(compiled.ok());
  ChatTemplateRenderer renderer(std::move(*compiled), "<s>", "</s>");
  const nlohmann::json messages = nlohmann::json::parse(R"([{"role":"user","content":"hi"}])");
  const nlohmann::json tools;
  const nlohmann::json kwargs = nlohmann::json::object();
  const std::string own = "{{ bos_token }}{{ messages[0].content }}!";
  auto text = renderer.render(api::ChatRenderInputs{messages, true, false, tools, kwargs, &own});
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(*text, "<s>hi!");
  const std::string broken = "{% for %}";
  auto error = renderer.render(api::ChatRenderInputs{messages, true, false, tools, kwargs, &broken});
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.message().find("chat_template"), std::string::npos) << error.message();
}

}  // namespace
}  // namespace kiln::server
