// ChatTemplate (tokenizer/chat_template.h): the context a chat template sees (messages, special
// tokens, kwargs), continue_final_message, and errors naming the field at fault.
#include "tokenizer/chat_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln::tokenizer {
namespace {

using ::testing::HasSubstr;

ChatTemplate compile_or_die(const std::string& source) {
  auto t = ChatTemplate::compile(source);
  EXPECT_TRUE(t.ok()) << t.message();
  return std::move(t).value();
}

TEST(ChatTemplateTest, ContextHoldsMessagesTokensAndKwargs) {
  ChatTemplate t = compile_or_die(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
      "{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ eos_token }}{{ "
      "custom }}");
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])");
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.extra_kwargs = {{"custom", 7}};
  auto r = t.render(in);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "<s>[user:hi]TrueTrueFalse</s>7");
}

TEST(ChatTemplateTest, ContinueFinalMessageCutsAfterTheContent) {
  ChatTemplate t = compile_or_die(
      "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</end>{% endfor %}");
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(
      R"([{"role":"user","content":"q"},{"role":"assistant","content":"partial answer  "}])");
  in.continue_final_message = true;
  auto r = t.render(in);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "<user>q</end><assistant>partial answer");
}

TEST(ChatTemplateTest, BadInputsAreErrorsNamingTheField) {
  ChatTemplate t = compile_or_die("{{ messages | length }}");
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"q"}])");
  in.continue_final_message = true;
  EXPECT_THAT(t.render(in).message(), HasSubstr("role is not 'assistant'"));
  in.add_generation_prompt = true;
  EXPECT_THAT(t.render(in).message(), HasSubstr("not compatible"));
  in = ChatTemplateInputs();
  in.messages = "not a list";
  EXPECT_THAT(t.render(in).message(), HasSubstr("messages must be an array"));
  in = ChatTemplateInputs();
  in.tools = {{"a", 1}};
  EXPECT_THAT(t.render(in).message(), HasSubstr("tools must be a list"));
  in = ChatTemplateInputs();
  in.extra_kwargs = {{"messages", 1}};
  EXPECT_THAT(t.render(in).message(), HasSubstr("chat_template_kwargs.messages is reserved"));
  EXPECT_THAT(ChatTemplate::compile("{% if %}").message(),
              HasSubstr("chat template: template syntax error"));
}

TEST(ChatTemplateTest, StrftimeNowIsAvailable) {
  ChatTemplate t = compile_or_die("{{ strftime_now('%Y') | length }}");
  auto r = t.render(ChatTemplateInputs());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "4");
}

}  // namespace
}  // namespace kiln::tokenizer
